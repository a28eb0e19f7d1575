"""Make a recorder's cut-off MCAP whole again. No rclpy.

A recorder killed mid-write (kill -9, power loss) leaves a file without its summary and footer,
often ending inside a record: the mcap readers refuse to open it. ``recover`` copies every
whole message it can stream out of such a file into a new, complete MCAP (schemas, channels,
chunk index, statistics), as the mcap CLI's ``mcap recover`` does; that tool is Go and not
installable here, and the mcap Python library has no recover of its own.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Footer, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import Writer


def is_complete(path: Path) -> bool:
    """True when the file ends with an MCAP footer and magic (a recorder that closed it)."""
    try:
        with path.open("rb") as f:
            f.seek(-(8 + 8 + 4 + 8), os.SEEK_END)  # footer record tail (summary start, offset start, crc) + magic
            tail = f.read()
    except OSError:
        return False
    return tail.endswith(b"\x89MCAP0\r\n")


def recover(src: Path, dst: Path) -> int:
    """Copy every whole message of ``src`` into a complete MCAP at ``dst`` (written beside it,
    then moved into place). Returns the number of messages copied."""
    tmp = dst.with_name(dst.name + ".recovering")
    copied = 0
    schema_ids: dict[int, int] = {}
    channel_ids: dict[int, int] = {}
    with src.open("rb") as fin, tmp.open("wb") as fout:
        writer = Writer(fout)
        writer.start(profile="ros2", library="restock recover")
        try:
            for record in StreamReader(fin, skip_magic=False).records:
                if isinstance(record, Schema) and record.id not in schema_ids:
                    schema_ids[record.id] = writer.register_schema(record.name, record.encoding, record.data)
                elif isinstance(record, Channel) and record.id not in channel_ids:
                    channel_ids[record.id] = writer.register_channel(
                        record.topic, record.message_encoding, schema_ids.get(record.schema_id, 0), record.metadata
                    )
                elif isinstance(record, Message) and record.channel_id in channel_ids:
                    writer.add_message(
                        channel_ids[record.channel_id],
                        record.log_time,
                        record.data,
                        record.publish_time,
                        record.sequence,
                    )
                    copied += 1
                elif isinstance(record, Footer):
                    break
        except (McapError, EOFError, struct.error, ValueError):
            pass  # the cut: everything before it is in
        writer.finish()
    tmp.replace(dst)
    return copied


def earlier_segments(path: Path) -> list[Path]:
    """The files a recording at ``path`` set aside (``<stem>.partN.mcap``: cut per period, or
    left by a killed recorder), oldest first."""
    pattern = re.compile(re.escape(path.stem) + r"\.part(\d+)" + re.escape(path.suffix))
    numbered = [
        (int(m[1]), p) for p in path.parent.glob(f"{path.stem}.part*{path.suffix}") if (m := pattern.fullmatch(p.name))
    ]
    return [p for _n, p in sorted(numbered)]


def recover_segments(recording: Path) -> list[tuple[Path, int]]:
    """Recover, in place, each earlier segment of ``recording`` a killed recorder left cut off.
    Returns (segment, messages kept) of those recovered."""
    done = []
    for part in earlier_segments(recording):
        if not is_complete(part):
            done.append((part, recover(part, part)))
    return done


def main(argv: list[str] | None = None) -> int:
    """``restock recover-mcap FILE [OUT]``: a cut-off MCAP made whole (OUT default: FILE.recovered.mcap)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2 or args[0].startswith("-"):
        print("usage: restock recover-mcap FILE [OUT]", file=sys.stderr)
        return 2
    src = Path(args[0])
    dst = Path(args[1]) if len(args) == 2 else src.with_suffix(".recovered.mcap")
    if not src.is_file():
        print(f"restock recover-mcap: {src}: no such file", file=sys.stderr)
        return 2
    if is_complete(src):
        print(f"{src} is complete (it has its footer); nothing to recover")
        return 0
    n = recover(src, dst)
    print(f"{dst}: {n} messages recovered from {src}")
    return 0
