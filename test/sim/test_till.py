"""The simulator's till without ROS: receipt numbers and the latest sales a restart sends again."""

from __future__ import annotations

from restock.records import SaleEvent, SimEvent, decode
from restock.sim.till import RECENT_SALES_KEPT, Till


def _events() -> list[SimEvent]:
    return [
        SimEvent(stamp=10.0, kind="sale", lane_id="L1", sku="cola"),
        SimEvent(stamp=11.0, kind="lost_sale", lane_id="L2", sku="water"),
        SimEvent(stamp=12.0, kind="refill", lane_id="L1", sku="cola"),
        SimEvent(stamp=13.0, kind="sale", lane_id="L2", sku="water"),
    ]


def test_each_sale_gets_the_next_receipt_number() -> None:
    till = Till()
    sales = [decode(s, SaleEvent) for s in till.ring_up(_events())]
    assert [(s.seq, s.sku, s.lane_id, s.stamp, s.source, s.quantity) for s in sales] == [
        (1, "cola", "L1", 10.0, "pos", 1),
        (2, "water", "L2", 13.0, "pos", 1),
    ]
    assert [decode(s, SaleEvent).seq for s in till.ring_up(_events()[:1])] == [3]
    assert till.receipts == 3
    assert [decode(s, SaleEvent).seq for s in till.replay()] == [1, 2, 3]


def test_a_restarted_till_goes_on_from_its_receipts_and_replays_its_latest() -> None:
    first = Till()
    first.ring_up(_events())
    again = Till(receipts=first.receipts, recent_sales=first.replay())
    assert again.replay() == first.replay()
    assert [decode(s, SaleEvent).seq for s in again.ring_up(_events())] == [3, 4]


def test_no_pos_feed_rings_nothing_up() -> None:
    till = Till(pos_feed=False)
    assert till.ring_up(_events()) == []
    assert till.receipts == 0 and till.replay() == []


def test_only_the_latest_sales_are_kept() -> None:
    till = Till()
    many = [SimEvent(stamp=float(i), kind="sale", sku="cola") for i in range(RECENT_SALES_KEPT + 5)]
    assert len(till.ring_up(many)) == RECENT_SALES_KEPT + 5
    kept = [decode(s, SaleEvent).seq for s in till.replay()]
    assert kept == list(range(6, RECENT_SALES_KEPT + 6))
