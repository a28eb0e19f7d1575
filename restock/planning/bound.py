"""A lower bound on lost sales: the best any restock policy could do with the whole log known in advance.

A linear program over time slots of ``slot_s``, per SKU (pool) ``p`` and slot ``k``:

- ``s[p,k]`` containers sold, at most the slot's demand ``d[p,k]``;
- ``x[p,k]`` containers placed on the shelf; the shelf ``S[p,k] = S[p,k-1] + x[p,k] - s[p,k]``
  stays within ``[0, pool capacity]`` at each slot's end;
- ``w[p,k]`` robot work done in the slot (in containers): ``sum_p cycle_p * w[p,k] <= slot_s``
  (one robot, one container per round trip); a container is placed once its work is done, and
  the work done on containers not yet placed, ``B[p,k] = B[p,k-1] + w[p,k] - x[p,k]``, is at most one
  container in all (the gripper holds one);
- with a limited back room, ``R[p,k] = R[p,k-1] - w[p,k] >= 0``, and in a delivery's slot the
  location is refilled to capacity (the store's schedule), less the slot's work, except work on
  containers picked before the delivery; without, staff are on call.

Every real schedule of the store model (restock.planning.storemodel) maps onto a feasible point
(its sales, placements and work per slot), so the optimum is a lower bound on any policy's lost
sales, however it forecasts. It is a relaxation, and loose where the model is stricter: lanes of
a SKU pooled into one, a task's setup and the approach to the stock left out, the shortest
cycle of the SKU's lanes, fractional containers, and a container placed at a slot's end may
serve a sale earlier in the slot (slots of about one cycle keep that small).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from restock.planning.storemodel import SaleIn, StoreModel


@dataclass(frozen=True)
class Bound:
    demanded: int
    lost: float  # the LP optimum: no policy loses fewer
    moved: float  # containers placed in the optimum
    lost_by_pool: np.ndarray  # the optimum's lost sales per pool
    placed: np.ndarray  # the optimum's containers placed per [pool, slot]
    shelf: np.ndarray  # the optimum's containers on the shelf per [pool, slot] at the slot's end
    slots: int
    slot_s: float
    solve_s: float

    @property
    def lost_at_least(self) -> int:
        """Whole lost sales (the optimum rounded up, with a solver's tolerance)."""
        return max(0, math.ceil(self.lost - 1e-6))


def demand_matrix(sales: Sequence[SaleIn], skus: Sequence[str], t0: float, slot_s: float, n_slots: int) -> np.ndarray:
    """Containers demanded per [sku, slot] from t0 (sales outside the span or of other SKUs left out)."""
    index = {s: i for i, s in enumerate(skus)}
    d = np.zeros((len(skus), n_slots))
    for s in sales:
        k = int((s.t - t0) // slot_s)
        if s.sku in index and 0 <= k < n_slots:
            d[index[s.sku], k] += s.quantity
    return d


def lost_sales_bound(
    demand: np.ndarray,
    shelf_capacity: np.ndarray,
    cycle_s: np.ndarray,
    slot_s: float,
    shelf0: np.ndarray | None = None,
    back_room0: np.ndarray | None = None,
    deliveries: Sequence[int] = (),
    back_room_capacity: np.ndarray | None = None,
) -> Bound:
    """The LP optimum for ``demand[p, k]`` containers per pool and slot.

    ``shelf0``: containers per pool at the start (default full). ``back_room0``: the back room at
    the start (None: unlimited, staff on call); ``deliveries``: slots at whose start each location is
    refilled to ``back_room_capacity``.
    """
    started = time.perf_counter()
    demand = np.asarray(demand, dtype=float)
    n_p, n_k = demand.shape
    cap = np.asarray(shelf_capacity, dtype=float)
    s0 = cap.copy() if shelf0 is None else np.minimum(np.asarray(shelf0, dtype=float), cap)
    cycle = np.asarray(cycle_s, dtype=float)
    n = n_p * n_k
    limited = back_room0 is not None
    # Variable blocks, each n long, index p * n_k + k: sold, placed, work, shelf, work in progress,
    # and with a limited back room, the back room and the work in a delivery's slot from before it.
    sold, placed, work, shelf, buf, back, early = (np.arange(n) + b * n for b in range(7))
    n_var = (7 if limited else 5) * n
    pk = np.arange(n)
    k_of = pk % n_k
    has_prev = k_of > 0
    prev = pk[has_prev]

    def rows(*blocks: tuple[np.ndarray, np.ndarray, float]) -> sparse.csr_matrix:
        """One row per (p, k): the sum of coef * var over the blocks (row indices, var indices, coef)."""
        r = np.concatenate([b[0] for b in blocks])
        c = np.concatenate([b[1] for b in blocks])
        v = np.concatenate([np.full(len(b[0]), b[2]) for b in blocks])
        return sparse.csr_matrix((v, (r, c)), shape=(n, n_var))

    # Shelf: S[k] - S[k-1] - x[k] + s[k] = 0 (S[-1] = s0).
    a_eq = [rows((pk, shelf, 1.0), (prev, shelf[prev - 1], -1.0), (pk, placed, -1.0), (pk, sold, 1.0))]
    b_eq = [np.where(has_prev, 0.0, np.repeat(s0, n_k))]
    # Work in progress: B[k] - B[k-1] - w[k] + x[k] = 0 (B[-1] = 0).
    a_eq.append(rows((pk, buf, 1.0), (prev, buf[prev - 1], -1.0), (pk, work, -1.0), (pk, placed, 1.0)))
    b_eq.append(np.zeros(n))
    a_ub, b_ub = [], []
    if limited:
        # Back room: R[k] = R[k-1] - w[k] (R[-1] = back_room0). In a delivery's slot it is refilled:
        # R[k] = capacity - w[k] + u[k], u[k] being work in that slot on containers picked before the
        # delivery (at most R[k-1], and what one slot's work holds).
        at = np.zeros(n_k, dtype=bool)
        at[[int(k) for k in deliveries if 0 <= k < n_k]] = True
        r0 = np.asarray(back_room0, dtype=float)
        refill = np.asarray(back_room_capacity if back_room_capacity is not None else back_room0, dtype=float)
        carry = pk[has_prev & ~at[k_of]]
        a_eq.append(rows((pk, back, 1.0), (carry, back[carry - 1], -1.0), (pk, work, 1.0), (pk, early, -1.0)))
        b_eq.append(np.where(at[k_of], np.repeat(refill, n_k), np.where(has_prev, 0.0, np.repeat(r0, n_k))))
        later = pk[at[k_of] & has_prev]
        a_ub.append(
            sparse.csr_matrix(
                (
                    np.r_[np.ones(len(later)), -np.ones(len(later))],
                    (np.r_[np.arange(len(later)), np.arange(len(later))], np.r_[early[later], back[later - 1]]),
                ),
                shape=(len(later), n_var),
            )
        )
        b_ub.append(np.zeros(len(later)))
    # Per slot: robot time, and at most one container's work not yet placed.
    slot_rows = np.tile(np.arange(n_k), n_p)
    a_time = sparse.csr_matrix((np.repeat(cycle, n_k), (slot_rows, work)), shape=(n_k, n_var))
    a_hold = sparse.csr_matrix((np.ones(n), (slot_rows, buf)), shape=(n_k, n_var))
    bounds = np.zeros((n_var, 2))
    bounds[:, 1] = np.inf
    bounds[sold, 1] = demand.ravel()
    bounds[shelf, 1] = np.repeat(cap, n_k)
    bounds[buf, 1] = 1.0
    if limited:
        first = at[k_of] & ~has_prev
        bounds[early, 1] = np.where(at[k_of], np.repeat(slot_s / cycle + 1.0, n_k), 0.0)
        bounds[early[first], 1] = np.minimum(bounds[early[first], 1], np.repeat(r0, n_k)[first])
    cost = np.zeros(n_var)
    cost[sold] = -1.0
    res = linprog(
        cost,
        A_ub=sparse.vstack([a_time, a_hold, *a_ub]).tocsr(),
        b_ub=np.concatenate([np.full(n_k, float(slot_s)), np.ones(n_k), *b_ub]),
        A_eq=sparse.vstack(a_eq).tocsr(),
        b_eq=np.concatenate(b_eq),
        bounds=bounds,
        method="highs",
    )
    if res.status != 0:
        raise RuntimeError(f"lost-sales bound: the LP did not solve ({res.message})")
    total = float(demand.sum())
    return Bound(
        demanded=round(total),
        lost=max(0.0, total + float(res.fun)),
        moved=float(res.x[placed].sum()),
        lost_by_pool=demand.sum(axis=1) - res.x[sold].reshape(n_p, n_k).sum(axis=1),
        placed=res.x[placed].reshape(n_p, n_k),
        shelf=res.x[shelf].reshape(n_p, n_k),
        slots=n_k,
        slot_s=float(slot_s),
        solve_s=time.perf_counter() - started,
    )


def store_bound(
    model: StoreModel, sales: Sequence[SaleIn], t0: float, t1: float, slot_s: float = 60.0, staff_on_call: bool = True
) -> Bound:
    """The bound for a store model's replay of ``sales`` from t0 to t1: its lanes, robot and back
    room (``staff_on_call``: staff bring stock whenever asked, as with back-room alerts, so the
    back room does not limit; otherwise only the store's refill schedule)."""
    lt = model.lanes
    n_k = max(1, math.ceil((t1 - t0) / slot_s))
    demand = demand_matrix(sales, lt.skus, t0, slot_s, n_k)
    lane_cycle = model.timing.cycle_s(lt.x, lt.stock_x[lt.pool])
    cycle = np.array([lane_cycle[lt.pool == p].min() for p in range(len(lt.skus))])
    shelf0 = np.bincount(lt.pool, weights=np.floor(lt.capacity * model.initial_fill), minlength=len(lt.skus))
    if staff_on_call:
        return lost_sales_bound(demand, lt.pool_capacity, cycle, slot_s, shelf0)
    slots = [int((t - t0) // slot_s) for t in model.refill_times(t0, t1)]
    return lost_sales_bound(
        demand, lt.pool_capacity, cycle, slot_s, shelf0, model.stock_initial, slots, model.stock_capacity
    )
