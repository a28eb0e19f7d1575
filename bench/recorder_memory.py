"""The recorder's memory per chunk written: why a week in one MCAP file grows it, and splitting does not.

foxglove's MCAP writer keeps the index of every chunk it has written (for the file's summary) in
memory until the file closes. This writes the same messages three ways with small chunks (one
message each, as a camera frame is) and prints the RSS: one file; a new file every
``--split`` messages (the recorder's split_period_s); and the same with malloc_trim after each
close (what the recorder does). A store day writes ~2,400 chunks.

Usage: .venv/bin/python bench/recorder_memory.py [--messages 120000] [--split 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy


def write(mode: str, messages: int, split: int, out: Path) -> None:
    """One way of writing, in this process (run as a child so each starts from the same RSS)."""
    import foxglove
    import psutil
    from foxglove.mcap import MCAPWriteOptions

    from restock.malloc import pin_mmap_threshold, release_free_memory

    pin_mmap_threshold()
    options = MCAPWriteOptions(chunk_size=4096)
    writer = foxglove.open_mcap(str(out), allow_overwrite=True, writer_options=options)
    schema = foxglove.Schema(name="raw", encoding="ros2msg", data=b"uint8[] data")
    channels = [foxglove.Channel(f"/topic{i}", message_encoding="cdr", schema=schema) for i in range(18)]
    payload = os.urandom(5000)
    process = psutil.Process()
    start = process.memory_info().rss
    for i in range(1, messages + 1):
        channels[i % len(channels)].log(payload, log_time=i * 1_000_000)
        if mode != "one file" and i % split == 0:
            writer.close()
            if mode == "split + trim":
                release_free_memory()
            writer = foxglove.open_mcap(str(out), allow_overwrite=True, writer_options=options)
        if i % split == split // 2:  # halfway through each file: its own chunks are still indexed
            grown = (process.memory_info().rss - start) / 2**20
            print(f"  {mode:<13} {i:>8,} chunks written: RSS {grown:+6.1f} MB", flush=True)
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=120_000)
    ap.add_argument("--split", type=int, default=20_000)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.mode:
            write(args.mode, args.messages, args.split, Path(tmp) / "bench.mcap")
            return
        print(f"RSS growth while writing {args.messages:,} one-message chunks (new file every {args.split:,}),")
        print("taken halfway through each file:")
        for mode in ("one file", "split", "split + trim"):
            cmd = [sys.executable, __file__, "--messages", str(args.messages), "--split", str(args.split)]
            subprocess.run([*cmd, "--mode", mode], check=True)


if __name__ == "__main__":
    main()
