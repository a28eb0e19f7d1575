"""The store's till as the simulator runs it: receipt numbers for sales and the latest sales kept. No rclpy.

Each sale the world records becomes a SaleEvent with the next receipt number (``seq``); the till
keeps its latest sales so that a restarted simulator sends them again, and a planner that hears
one twice counts it once by its receipt number.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from restock import records

RECENT_SALES_KEPT = 200  # the latest sales a checkpoint holds: far more than one tick's


class Till:
    def __init__(self, pos_feed: bool = True, receipts: int = 0, recent_sales: Iterable[str] = ()) -> None:
        self.pos_feed = pos_feed  # False: no point-of-sale feed, the till rings nothing up
        self.receipts = int(receipts)  # the last receipt number given
        self.recent: deque[str] = deque((str(x) for x in recent_sales), maxlen=RECENT_SALES_KEPT)

    def ring_up(self, events: Iterable[records.SimEvent]) -> list[str]:
        """The world's sales since the last tick as encoded SaleEvents, numbered in order and kept."""
        if not self.pos_feed:
            return []
        sales: list[str] = []
        for ev in events:
            if ev.kind == "sale" and ev.sku:
                self.receipts += 1
                sale = records.SaleEvent(
                    stamp=ev.stamp, sku=ev.sku, quantity=1, lane_id=ev.lane_id, source="pos", seq=self.receipts
                )
                sales.append(records.encode(sale))
        self.recent.extend(sales)
        return sales

    def replay(self) -> list[str]:
        """What a restarted till sends first: its latest sales (the last tick's may not have gone out)."""
        return list(self.recent)
