"""A node's subscriptions drop what they cannot take: malformed records and messages a callback
raises on are counted and logged in few lines, and the node keeps taking the good ones."""

from __future__ import annotations

import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Bool, String

from restock import records
from restock.nodes.base import LogLimiter, RestockNode
from restock.testing.graph import spin_until


def test_log_limiter_one_line_per_kind_per_period_and_a_burst_cap() -> None:
    limiter = LogLimiter(period_s=10.0, burst=3)
    assert limiter.allow("a", now=0.0) == 0
    assert [limiter.allow("a", now=t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert limiter.allow("a", now=10.0) == 3  # the next line says how many were held back
    # Distinct kinds each get a line, up to the burst per period in all.
    assert [limiter.allow(k, now=11.0) for k in "bcd"] == [0, 0, None]
    assert limiter.allow("d", now=20.5) == 1


def test_log_limiter_memory_is_bounded() -> None:
    limiter = LogLimiter(period_s=10.0, burst=10**9, max_keys=50)
    for i in range(10_000):
        limiter.allow(f"kind {i}", now=float(i))
    assert len(limiter._last) == 50


class Flaky(RestockNode):
    """Takes sales; raises on quantity 13 and on every flag, as a buggy callback would."""

    NODE_NAME = "guard_test_flaky"

    def __init__(self) -> None:
        super().__init__()
        self.seqs: list[int | None] = []
        self.create_record_subscription(records.SaleEvent, "guard_test/sales", self.on_sale)
        self.create_subscription(Bool, "guard_test/flag", self.on_flag, 100)

    def on_sale(self, sale: records.SaleEvent) -> None:
        if sale.quantity == 13:
            raise KeyError("unlucky")
        self.seqs.append(sale.seq)

    def on_flag(self, msg: Bool) -> None:
        raise ZeroDivisionError("a flag")


def test_a_raising_callback_drops_the_message_and_the_node_lives_on(
    ros_node: rclpy.node.Node, capfd: pytest.CaptureFixture[str]
) -> None:
    node = Flaky()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(ros_node)
    try:
        sales = ros_node.create_publisher(String, "guard_test/sales", 100)
        flags = ros_node.create_publisher(Bool, "guard_test/flag", 100)
        spin_until(
            ros_node,
            lambda: sales.get_subscription_count() and flags.get_subscription_count(),
            10.0,
            "matched",
        )

        def sale(seq: int, quantity: int = 1) -> String:
            return String(data=records.encode(records.SaleEvent(stamp=1.0, sku="x", quantity=quantity, seq=seq)))

        sent = [sale(1), String(data="[" * 100_000), sale(2, quantity=13), String(data='{"quantity": "5"}'), sale(3)]
        for msg in sent:
            sales.publish(msg)
        for _ in range(30):
            flags.publish(Bool(data=True))
        deadline = time.monotonic() + 20.0
        while node.records_dropped < 33 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        assert node.seqs == [1, 3]
        assert node.records_dropped == 33  # 2 malformed, 1 raising sale, 30 raising flags
        assert node.callback_errors == 31
        err = capfd.readouterr().err
        assert "dropped a malformed record on guard_test/sales: nested deeper than 16 levels" in err
        assert "KeyError at test_records_guard.py" in err
        assert err.count("ZeroDivisionError") == 1  # 30 alike: one line
        assert "Traceback" not in err
    finally:
        executor.remove_node(ros_node)
        node.destroy_node()
