"""The operator app's back-room alerts: the latest record per alert_id, shown while raised."""

from __future__ import annotations

import asyncio

import pytest
from teleop_client import connect, login, next_json

from restock import records
from restock.teleop.alerts import ActiveAlerts
from restock.teleop.protocol import alerts_message


def alert(
    alert_id: str, stamp: float, state: str = "raised", lead_s: float | None = 600.0, **kw
) -> records.BackroomAlert:
    return records.BackroomAlert(
        alert_id=alert_id,
        stamp=stamp,
        sku=kw.pop("sku", "cola_500"),
        state=state,
        back_room=kw.pop("back_room", 3),
        lead_s=lead_s,
        message=f"{alert_id} at {stamp}",
        **kw,
    )


def test_raised_then_cleared_shows_then_goes() -> None:
    book = ActiveAlerts()
    assert book.active() == []
    assert book.update(alert("a1", 10.0))
    assert [a.alert_id for a in book.active()] == ["a1"] and book.raised == 1
    assert book.update(alert("a1", 20.0, lead_s=300.0))  # the same alert, a newer forecast
    (only,) = book.active()
    assert only.lead_s == 300.0 and only.stamp == 20.0
    assert book.update(alert("a1", 30.0, "cleared", None))
    assert book.active() == [] and book.raised == 0


def test_an_older_record_arriving_late_does_not_undo_a_newer_one() -> None:
    book = ActiveAlerts()
    book.update(alert("a1", 10.0))
    book.update(alert("a1", 30.0, "cleared"))
    assert not book.update(alert("a1", 10.0))  # a transient-local replay of the raise
    assert book.active() == []
    assert not book.update(alert("a1", 30.0, "cleared"))  # the same record twice: nothing to send


def test_a_clear_of_an_unknown_alert_changes_nothing_to_show() -> None:
    book = ActiveAlerts()
    assert not book.update(alert("a9", 5.0, "cleared"))
    assert book.active() == []


def test_most_urgent_first_no_lead_last() -> None:
    book = ActiveAlerts()
    book.update(alert("late", 1.0, lead_s=3600.0, sku="water_500"))
    book.update(alert("none", 1.0, lead_s=None, sku="chips"))
    book.update(alert("soon", 1.0, lead_s=120.0, sales_at_risk=2.0))
    book.update(alert("soon_bigger", 1.0, lead_s=120.0, sales_at_risk=9.0, sku="juice_1l"))
    assert [a.alert_id for a in book.active()] == ["soon_bigger", "soon", "late", "none"]


def test_remembered_alerts_are_bounded_cleared_first() -> None:
    book = ActiveAlerts(max_remembered=3)
    book.update(alert("r1", 1.0))
    book.update(alert("c1", 2.0, "cleared"))
    book.update(alert("r2", 3.0))
    book.update(alert("r3", 4.0))  # over the bound: the cleared one is forgotten, no raised one
    assert {a.alert_id for a in book.active()} == {"r1", "r2", "r3"}
    assert not book.update(alert("c1", 2.0, "cleared"))  # forgotten: an unknown clear again
    book.update(alert("r4", 5.0))  # only raised ones left: the oldest goes
    assert {a.alert_id for a in book.active()} == {"r2", "r3", "r4"}


def test_alerts_message_carries_what_the_app_shows() -> None:
    a = alert("a1", 10.0, lead_s=900.0, sales_at_risk=38.0, next_delivery=61200.0, empty_at=56400.0)
    msg = alerts_message([a])
    assert msg["type"] == "alerts"
    (shown,) = msg["alerts"]
    assert shown["message"] == "a1 at 10.0" and shown["lead_s"] == 900.0
    assert shown["sales_at_risk"] == 38.0 and shown["next_delivery"] == 61200.0
    assert "state" not in shown  # only raised ones are sent
    assert alerts_message([]) == {"type": "alerts", "alerts": []}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_operator_gets_the_active_alerts_on_connect_and_on_each_change(make_bridge) -> None:
    """Real TLS and aiohttp: an alert raised before the operator connects arrives with the
    connection; later changes reach every open connection; a clear empties the list."""
    b = make_bridge()
    b.server.submit_alert(alert("a1", 10.0, lead_s=900.0))

    async def go() -> None:
        async with b.client() as http:
            alice = await connect(http, b.base, await login(http, b.base, "alice"))
            assert [a["alert_id"] for a in (await next_json(alice, "alerts"))["alerts"]] == ["a1"]
            bob = await connect(http, b.base, await login(http, b.base, "bob"))
            assert [a["alert_id"] for a in (await next_json(bob, "alerts"))["alerts"]] == ["a1"]
            b.server.submit_alert(alert("a2", 20.0, lead_s=60.0, sku="water_500"))
            for ws in (alice, bob):
                assert [a["alert_id"] for a in (await next_json(ws, "alerts"))["alerts"]] == ["a2", "a1"]
            b.server.submit_alert(alert("a2", 30.0, "cleared", None, sku="water_500"))
            b.server.submit_alert(alert("a1", 30.0, "cleared", None))
            assert [a["alert_id"] for a in (await next_json(alice, "alerts"))["alerts"]] == ["a1"]
            assert (await next_json(alice, "alerts"))["alerts"] == []

    asyncio.run(go())
    assert b.server.alerts.raised == 0
