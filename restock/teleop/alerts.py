"""The back-room alerts an operator sees: the latest record per ``alert_id``, while it is raised.

The planner publishes each alert's changes (raised, then cleared) on planner/backroom_alerts,
transient local, so a bridge that starts late hears the history again. Pure bookkeeping, no
sockets or ROS: the server feeds it records and sends the active list to the app
(restock.teleop.protocol.alerts_message).
"""

from __future__ import annotations

import math

from restock import records

# Cleared alerts are remembered (a replayed older "raised" must not bring one back), up to this many.
MAX_REMEMBERED = 1000


class ActiveAlerts:
    def __init__(self, max_remembered: int = MAX_REMEMBERED) -> None:
        self.max_remembered = max_remembered
        self._latest: dict[str, records.BackroomAlert] = {}
        self.raised = 0  # how many are active: an int other threads may read (the node's health)

    def update(self, alert: records.BackroomAlert) -> bool:
        """Take one record; True when the active set changed (the app needs the new list)."""
        known = self._latest.get(alert.alert_id)
        if known is not None and alert.stamp < known.stamp:
            return False  # an older record arriving late (a replay) does not undo a newer one
        if known == alert:
            return False
        self._latest.pop(alert.alert_id, None)
        self._latest[alert.alert_id] = alert  # insertion order: the oldest change first
        self._forget()
        self.raised = sum(a.state == "raised" for a in self._latest.values())
        return alert.state == "raised" or (known is not None and known.state == "raised")

    def _forget(self) -> None:
        """Over the bound: the oldest cleared alerts go first, then (a flood of ids) the oldest raised."""
        excess = len(self._latest) - self.max_remembered
        if excess <= 0:
            return
        cleared = [i for i, a in self._latest.items() if a.state == "cleared"]
        raised = [i for i, a in self._latest.items() if a.state == "raised"]
        for alert_id in (cleared + raised)[:excess]:
            del self._latest[alert_id]

    def active(self) -> list[records.BackroomAlert]:
        """The raised alerts, most urgent first: the smallest lead (no lead last), then the most sales at risk."""
        raised = [a for a in self._latest.values() if a.state == "raised"]
        return sorted(raised, key=lambda a: (math.inf if a.lead_s is None else a.lead_s, -a.sales_at_risk, a.sku))
