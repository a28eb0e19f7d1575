"""Fleet test helpers: two tenants with a store, a robot and operators each, on a test database."""

from __future__ import annotations

import time
from dataclasses import dataclass

from restock import records
from restock.fleet.accounts import Accounts
from restock.fleet.db import Pool
from restock.fleet.store import FleetStore

PASSWORD = "operator-password"


@dataclass
class Fleet:
    accounts: Accounts
    store: FleetStore
    credentials: dict[str, str]  # robot -> robot:secret


async def populate(conninfo: str, instance: str = "a") -> Fleet:
    """chain_a: store sa1, robot ra1, operators alice and carol; chain_b: store sb1, robot rb1, operator bob."""
    pool = Pool(conninfo, size=4)
    accounts = Accounts(pool, instance)
    creds = {}
    for tenant, store, robot, ops in (
        ("chain_a", "sa1", "ra1", ("alice", "carol")),
        ("chain_b", "sb1", "rb1", ("bob",)),
    ):
        await accounts.add_tenant(tenant)
        await accounts.add_store(store, tenant)
        creds[robot] = await accounts.add_robot(robot, store)
        for op in ops:
            await accounts.add_operator(op, tenant, PASSWORD)
    return Fleet(accounts, FleetStore(pool, instance), creds)


def handoff(request_id: str, kind: str = "unfamiliar_item", lane: str | None = "r0_l01") -> records.HandoffRequest:
    return records.HandoffRequest(
        request_id=request_id, source="shelf_camera", kind=kind, stamp=time.time(), lane_id=lane
    )
