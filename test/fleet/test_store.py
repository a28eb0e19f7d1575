"""The fleet store on a real PostgreSQL: claims race, tenants, resync, resolutions, audit rows."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from fleet_helpers import handoff, populate

from restock.fleet.db import Pool
from restock.fleet.queue import ClaimError
from restock.fleet.store import Actor, FleetStore


def test_two_claimers_race_and_each_handoff_is_claimed_exactly_once(fleet_db: str) -> None:
    async def run() -> None:
        fleet = await populate(fleet_db)
        await fleet.accounts.add_operator("dave", "chain_a", "pw-dave-1234")
        await fleet.accounts.add_operator("erin", "chain_a", "pw-erin-1234")
        for i in range(40):
            await fleet.store.submit_handoff("ra1", "chain_a", handoff(f"h{i}"), blocked_sales_per_h=i % 7)
        # Two instances, each with its own connections: the claims race in the database, not in Python.
        other = FleetStore(Pool(fleet_db, size=4), "b")
        resolved: dict[str, list[int]] = {}

        async def operator(store: FleetStore, name: str) -> None:
            actor = Actor(name, "chain_a")
            while True:
                try:
                    entry = await store.claim(actor)
                except ClaimError as err:
                    assert err.status == 404, err  # only "nothing open" ends the shift
                    return
                resolved.setdefault(name, []).append(entry.key)
                await store.resolve(actor, entry.key, "cleared")

        await asyncio.gather(
            operator(fleet.store, "alice"),
            operator(fleet.store, "carol"),
            operator(other, "dave"),
            operator(other, "erin"),
        )
        keys = [k for ks in resolved.values() for k in ks]
        assert sorted(keys) == sorted(set(keys)) and len(keys) == 40
        async with fleet.store.pool.connection() as conn:
            per = await (await conn.execute("SELECT handoff_id, count(*) FROM claims GROUP BY handoff_id")).fetchall()
            assert len(per) == 40 and {n for _, n in per} == {1}
            states = await (await conn.execute("SELECT state, count(*) FROM handoffs GROUP BY state")).fetchall()
            assert states == [("resolved", 40)]

    asyncio.run(run())


def test_many_claim_one_id_at_once_one_wins(fleet_db: str) -> None:
    async def run() -> None:
        fleet = await populate(fleet_db)
        names = [f"op{i}" for i in range(8)]
        for n in names:
            await fleet.accounts.add_operator(n, "chain_a", "pw-12345678")
        hid, new = await fleet.store.submit_handoff("ra1", "chain_a", handoff("only"))
        assert new
        stores = [FleetStore(Pool(fleet_db, size=1), f"i{i}") for i in range(len(names))]
        results = await asyncio.gather(
            *(s.claim(Actor(n, "chain_a"), hid) for s, n in zip(stores, names, strict=True)), return_exceptions=True
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(isinstance(r, ClaimError) for r in results if r not in winners)
        refused = await fleet.store.audit_rows("refused:claim")
        assert len(refused) == len(names) - 1

    asyncio.run(run())


def test_tenant_cannot_list_claim_release_or_resolve_another_tenants_handoffs(fleet_db: str) -> None:
    async def run() -> None:
        fleet = await populate(fleet_db)
        b_id, _ = await fleet.store.submit_handoff("rb1", "chain_b", handoff("b1"), blocked_sales_per_h=100.0)
        a_id, _ = await fleet.store.submit_handoff("ra1", "chain_a", handoff("a1"))
        alice = Actor("alice", "chain_a", "127.0.0.1")
        view = await fleet.store.queue_view("chain_a")
        assert [h["id"] for h in view["handoffs"]] == [a_id]
        with pytest.raises(ClaimError) as err:
            await fleet.store.claim(alice, b_id)
        assert err.value.public == "no open handoff with that id"
        for action in (fleet.store.release(alice, b_id), fleet.store.resolve(alice, b_id, "cleared")):
            with pytest.raises(ClaimError):
                await action
        assert (await fleet.store.claim(alice)).key == a_id  # the dearer chain_b handoff is not hers to take
        bob = Actor("bob", "chain_b")
        assert (await fleet.store.claim(bob)).key == b_id
        rows = await fleet.store.audit_rows("refused:%")
        assert [(r["event"], r["actor"]) for r in rows] == [
            ("refused:claim", "alice"),
            ("refused:release", "alice"),
            ("refused:resolve", "alice"),
        ]
        assert "belongs to tenant chain_b" in rows[0]["detail"]

    asyncio.run(run())


def test_resync_adds_no_duplicate_and_resolution_waits_for_the_robot(fleet_db: str) -> None:
    async def run() -> None:
        fleet = await populate(fleet_db)
        first = await fleet.store.submit_handoff("ra1", "chain_a", handoff("h1"), waiting_s=600.0)
        again = await fleet.store.submit_handoff("ra1", "chain_a", handoff("h1"))
        assert first[1] and not again[1] and first[0] == again[0]
        entries, _ = await fleet.store.open_entries("chain_a")
        assert len(entries) == 1
        view = await fleet.store.queue_view("chain_a")
        assert view["handoffs"][0]["waiting_s"] >= 600.0  # the time it waited while the robot was offline counts
        alice = Actor("alice", "chain_a")
        await fleet.store.claim(alice, first[0])
        res = await fleet.store.resolve(alice, first[0], "labelled", label="cola_500")
        assert res.operator == "alice" and res.label == "cola_500" and res.request_id == "h1"
        assert [r.request_id for r in await fleet.store.undelivered("ra1")] == ["h1"]
        assert await fleet.store.undelivered("rb1") == []
        assert await fleet.store.delivered("ra1", "h1")
        assert await fleet.store.undelivered("ra1") == []
        # resolved and resent after a reconnect: still one row, nothing new to claim
        assert not (await fleet.store.submit_handoff("ra1", "chain_a", handoff("h1")))[1]
        assert (await fleet.store.open_entries("chain_a"))[0] == []
        events = [r["event"] for r in await fleet.store.audit_rows()]
        assert events.count("handoff") == 1 and "claim" in events and "resolve" in events

    asyncio.run(run())


def test_database_refuses_a_second_live_claim_whatever_the_code_does(fleet_db: str) -> None:
    async def run() -> None:
        fleet = await populate(fleet_db)
        hid, _ = await fleet.store.submit_handoff("ra1", "chain_a", handoff("h1"))
        await fleet.store.claim(Actor("alice", "chain_a"), hid)
        async with fleet.store.pool.connection() as conn:
            with pytest.raises(psycopg.errors.UniqueViolation):
                await conn.execute(
                    "INSERT INTO claims (handoff_id, operator, instance) VALUES (%s, 'carol', 'x')", (hid,)
                )

    asyncio.run(run())


def test_a_claim_does_not_outlive_its_operators_session_and_the_view_shows_the_load(fleet_db: str) -> None:
    async def run() -> None:
        fleet = await populate(fleet_db)
        hid, _ = await fleet.store.submit_handoff("ra1", "chain_a", handoff("h1"))
        other, _ = await fleet.store.submit_handoff("ra1", "chain_a", handoff("h2"))
        token = await fleet.accounts.open_session("alice", "chain_a")
        await fleet.accounts.open_session("carol", "chain_a")
        await fleet.store.claim(Actor("alice", "chain_a"), hid)
        await fleet.store.claim(Actor("carol", "chain_a"), other)
        await fleet.store.resolve(Actor("carol", "chain_a"), other, "cleared")
        view = await fleet.store.queue_view("chain_a")
        ops = {o["name"]: o for o in view["operators"]}
        assert (ops["alice"]["online"], ops["alice"]["holding"], ops["carol"]["resolved_last_hour"]) == (True, 1, 1)
        assert view["waits"]["open"] == 0 and [h["state"] for h in view["handoffs"]] == ["claimed"]
        assert await fleet.store.release_orphaned() == []  # alice is still logged in
        await fleet.accounts.close_session(token)
        assert await fleet.store.release_orphaned() == [hid]
        entries, _ = await fleet.store.open_entries("chain_a")
        assert [e.key for e in entries] == [hid]
        assert (await fleet.store.claim(Actor("carol", "chain_a"))).key == hid
        rows = await fleet.store.audit_rows("release")
        assert rows[-1]["actor"] == "alice" and "no live session" in rows[-1]["detail"]

    asyncio.run(run())


def test_a_statement_cancelled_mid_way_does_not_poison_the_pool(fleet_db: str) -> None:
    async def run() -> None:
        pool = Pool(fleet_db, size=1)
        started = asyncio.Event()

        async def slow(conn: psycopg.AsyncConnection) -> None:
            await conn.execute("BEGIN")  # a transaction no context manager will roll back
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

        task = asyncio.create_task(pool.run(slow))
        await started.wait()
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        async def quick(conn: psycopg.AsyncConnection) -> tuple:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            return await (await conn.execute("SELECT 1")).fetchone()

        assert await pool.run(quick) == (1,)  # the one connection was replaced, not left mid-transaction
        await pool.close()

    asyncio.run(run())
