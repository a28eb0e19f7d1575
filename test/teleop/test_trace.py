"""restock.teleop.trace: a pose's stages summed per operator, from the stamps each hop took."""

from __future__ import annotations

from restock.teleop.trace import CommandTrace


def test_relayed_poses_give_each_stage_and_a_browser_clock_is_left_out() -> None:
    trace = CommandTrace()
    t = 1_800_000_000.0
    for i in range(100):
        base = t + i
        trace.pose("fleet:alice", base * 1000.0, service_in=base + 0.002, service_out=base + 0.003,
                   link_in=base + 0.005, loop=base + 0.006, published=base + 0.0065)  # fmt: skip
    trace.pose("c1", 12_345.0, loop=t, published=t + 0.001)  # performance.now(): not epoch milliseconds
    line = trace.summary("fleet:alice")
    assert line is not None and line.startswith("teleop trace fleet:alice: 100 poses")
    stages = dict(part.split(": ", 1) for part in line.split(" | ")[1:])
    assert stages["operator -> fleet service"].startswith("p50=2.00 ")
    assert stages["fleet service (parse, check, relay)"].startswith("p50=1.00 ")
    assert stages["fleet service -> robot link (WSS)"].startswith("p50=2.00 ")
    assert stages["bridge rules -> target published"].startswith("p50=0.50 ")
    assert "operator -> bridge loop (WSS)" in stages  # sent -> loop: both stamped
    assert trace.summary("fleet:alice") is None  # forgotten once told
    direct = trace.summary("c1")
    assert direct is not None and "operator" not in direct.split(" | ", 1)[1] and "1 poses" in direct
