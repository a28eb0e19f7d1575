"""A recording cut off by a crash is made whole: every message before the cut, a complete file."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap.writer import Writer

from restock.recording.recover import is_complete, main, recover, recover_segments


def _write(path: Path, n: int) -> None:
    with path.open("wb") as f:
        w = Writer(f, chunk_size=2048)
        w.start(profile="ros2")
        schema = w.register_schema("std_msgs/msg/String", "ros2msg", b"string data")
        channel = w.register_channel("/planner/tasks", "cdr", schema)
        for i in range(n):
            w.add_message(channel, log_time=i * 1000, data=f"task {i:04d}".encode() * 20, publish_time=i * 1000)
        w.finish()


def _messages(path: Path) -> list[bytes]:
    with path.open("rb") as f:
        reader = make_reader(f)
        assert reader.get_summary() is not None  # a summary: the seeking readers open it
        return [m.data for _, _, m in reader.iter_messages()]


def test_a_cut_off_recording_keeps_every_message_before_the_cut(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mcap"
    _write(whole, 200)
    assert is_complete(whole)
    cut = tmp_path / "restock.part1.mcap"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])  # killed mid-chunk
    assert not is_complete(cut)
    with cut.open("rb") as f, pytest.raises(Exception):  # noqa: B017 - the mcap reader refuses it as it is
        make_reader(f).get_summary()
    out = tmp_path / "fixed.mcap"
    n = recover(cut, out)
    assert 50 < n < 200
    assert _messages(out) == _messages(whole)[:n]  # in order, nothing invented
    assert is_complete(out)
    # In place, for a run directory's segments; a complete file is left alone.
    assert recover_segments(tmp_path / "restock.mcap") == [(cut, n)]
    assert is_complete(cut) and recover_segments(tmp_path / "restock.mcap") == []
    assert main([str(whole)]) == 0 and main([str(tmp_path / "missing.mcap")]) == 2
