"""The arm's handling episodes on contact physics: grasp, carry, place. No rclpy.

The robot (restock.sim.robot) opens an episode when its fingers start closing near a container;
from then until the container rests somewhere, a physics island (restock.sim.island) holds the
fingers, the container, its neighbours and what they stand on, and :class:`Handling` reads what
the physics did and writes it into the bookkeeping (shelves, the robot's ``holding``) and the
ground-truth events:

- grasp: the hand lifts (or pulls back) :data:`LIFT_CHECK` from where it closed; the container
  came with it (``grasp``), or it stayed or fell out of the fingers (``grasp_slipped``, with why:
  the fingers closed on nothing, or it slid out); a container knocked over at the stock is lost
  there (``dropped``).
- carry: the container stays in the fingers by friction alone; one that slides out falls
  (``dropped``, "slipped out of the fingers while carried").
- place: opening the fingers at a lane's loading point rebuilds the island around that lane
  (board, dividers, the last containers of the column as free bodies, a stop standing for the
  rest); the container falls and slides until everything is still, then it is ``placed`` (resting
  against the one in front), ``jammed`` (upright but short of the column: it did not slide home),
  ``tipped`` (lying in the lane) or ``dropped`` (fell out). Jammed and tipped containers stay in
  the lane where they lie (``Item.stuck``) and block it until a person clears it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from restock.sim.bodies import Item, Piece, Shared
from restock.sim.island import Box, Faults, Free, HandPose, Island
from restock.sim.shelves import Shelves

LIFT_CHECK = 0.02  # m: the hand this far from where it closed decides a grasp
HELD_SHARE = 0.6  # of the hand's move the container must have followed to be held
SLID_OFF = 0.8  # of the container's width: fingers closed past this have left it
GIVE_UP = 0.15  # m: the hand this far away with the container not following: it slipped
CARRY_SLIP = 0.02  # m: a held container this far from where it sat in the hand has slipped out
GONE = 0.5  # m: a container this far below where it was has fallen out of reach
HOME_TOL = 0.015  # m: a placed container this far short of the column's end did not slide home
TIP_RAD = math.radians(30.0)  # leaning more than this: tipped over
PLACE_MIN_S = 0.4  # s: a release is judged no sooner than this
STILL_S = 0.2  # s: a release is judged once everything has been still this long
PLACE_MAX_S = 5.0  # s: nor later (what still moves then is judged where it is)
RIGID_AFTER_S = 0.3  # s into a carry before the container may ride without solver steps
RIGID_DRIFT = 0.001  # m: nor if it has moved this far in the hand since the lift
# Of the grip's friction the carry's motion may need to ride so (0: off). Its jams (walk-in cooler,
# 3-container tasks: 6 of 45) were the judge's, not the carry's: 45 of 45 once STILL_S came in.
RIGID_SHARE = 0.35
NEIGHBOURS = 2  # containers of a lane's column simulated behind the release
Mode = Literal["grasp", "carry", "place"]


@dataclass
class Episode:
    island: Island
    item: Item
    mode: Mode
    where: str  # "stock" or "lane"
    key: str  # location or lane id
    start: np.ndarray  # the container's centre when the episode began
    close_hand: HandPose
    in_hand: np.ndarray | None = None  # held: the container's centre in the hand's frame
    since: float = 0.0  # s of island time the current mode began
    lane_end: float = 0.0  # place: the store y the container should come to rest at (its centre)
    full: bool = False  # place: the lane had no room for it
    min_opening: float = 1.0  # grasp: the narrowest the fingers closed to (m)
    kick: tuple[float, float, float] | None = None  # place: a fault's flick, once the fingers leave it
    still_since: float | None = None  # place: island time everything has been still since
    hand_vel: np.ndarray = field(default_factory=lambda: np.zeros(4))  # carry: the hand's last step (m/s, rad/s)
    rigid: int = 0  # carry: servo periods carried without a solver step (the bench's count)


@dataclass
class Handling(Piece):
    """Opens, steps and closes the robot's physics episodes."""

    shared: Shared
    shelves: Shelves
    faults: Faults = field(default_factory=Faults)
    episode: Episode | None = None

    def __post_init__(self) -> None:
        Piece.__init__(self, self.shared)

    @property
    def active(self) -> bool:
        return self.episode is not None

    # --- opening an episode -------------------------------------------------------------

    def start_grasp(
        self, item: Item, where: str, key: str, centre: tuple[float, float, float], hand: HandPose, opening: float
    ) -> None:
        """The fingers start closing on ``item`` (at ``centre``), at a stock location or a lane's back."""
        nudge = self.shelves.stock_nudge.get(key, (0.0, 0.0)) if where == "stock" else (0.0, 0.0)
        pos = (centre[0] + nudge[0], centre[1] + nudge[1], centre[2])
        if where == "stock":
            boxes, others = self._stock_scene(key, pos)
        else:
            boxes, others = self._lane_scene(key, skip_last=True)
        island = Island(self.store, boxes, [Free(item.sku, pos), *others], hand, opening, self.faults)  # type: ignore[arg-type]
        island.push_clear_of_hand(0)  # a finger that came in on top of it pushed it aside
        island.clear_of_containers(0)  # and pushed it against the one behind it
        self.episode = Episode(island, item, "grasp", where, key, island.pose(0)[0], hand)

    def _stock_scene(self, loc_id: str, pos: tuple[float, float, float]) -> tuple[list[Box], list[Free]]:
        loc = self.store.stock_by_id[loc_id]
        sku = self.store.skus[loc.sku]
        board = Box((pos[0], self.store.stock.y - 0.2, loc.z - 0.01), (0.2, 0.2, 0.01))
        back = Box((pos[0], self.store.stock.y - 0.41, loc.z + 0.15), (0.2, 0.01, 0.15))
        others = []
        if self.shelves.stock[loc_id] > 1:  # the next container behind the front one
            others.append(Free(loc.sku, (loc.x, pos[1] - sku.along, loc.z + sku.height / 2)))
        return [board, back], others

    def _lane_scene(self, lane_id: str, skip_last: bool = False) -> tuple[list[Box], list[Free]]:
        """The lane's board, dividers and front stop, its last containers as free bodies (stuck
        ones where they lie) and a stop where the rest of its column begins."""
        lv = self.shelves.lane(lane_id)
        row = lv.row
        tilt = math.radians(row.tilt_deg)
        quat = (math.cos(-tilt / 2), math.sin(-tilt / 2), 0.0, 0.0)
        mid_y = lv.back_y + row.depth / 2
        half_len = row.depth / 2 / math.cos(tilt)
        # A 2 cm board whose top surface is the lane's board (its centre 1 cm below, along the normal).
        board_c = (lv.lane.x, mid_y - 0.01 * math.sin(tilt), lv.board_z(mid_y) - 0.01 * math.cos(tilt))
        wall_h = max(row.divider_height, 0.02)
        boxes = [Box(board_c, (lv.lane.width / 2 + 0.01, half_len + 0.02, 0.01), quat)]
        for side in (-1, 1):
            x = lv.lane.x + side * (lv.lane.width / 2 + 0.0015)
            boxes.append(Box((x, mid_y, lv.board_z(mid_y) + wall_h / 2), (0.0015, half_len, wall_h / 2), quat))
        boxes.append(
            Box((lv.lane.x, lv.front_y + 0.005, lv.board_z(lv.front_y) + 0.03), (lv.lane.width / 2, 0.005, 0.03))
        )
        items = self.shelves.lanes[lane_id][:-1] if skip_last else self.shelves.lanes[lane_id]
        free: list[Free] = []
        for k in range(len(items) - 1, -1, -1):
            item = items[k]
            pos, q = self.shelves.item_pose(lane_id, k)
            if item.kind != "container" or len(free) >= NEIGHBOURS:
                # The rest of the column: a stop across the lane at this item's back face.
                y = pos[1] - item.pitch / 2
                boxes.append(Box((lv.lane.x, y + 0.005, lv.board_z(y) + 0.04), (lv.lane.width / 2, 0.005, 0.04)))
                break
            free.append(Free(item.sku, pos, q))  # type: ignore[arg-type]
        return boxes, free

    def start_place(self, lane_id: str, opening: float, hand: HandPose) -> None:
        """The fingers open at a lane's loading point: the island becomes that lane."""
        ep = self.episode
        assert ep is not None
        pos, q = ep.island.pose(0)
        boxes, others = self._lane_scene(lane_id)
        island = Island(
            self.store, boxes, [Free(ep.item.sku, tuple(pos), tuple(q)), *others], hand, opening, self.faults
        )  # type: ignore[arg-type]
        island.lift_clear(0)  # carried in over the board's back edge: it rests on it, not in it
        if island.clear_of_containers(0) > 0:  # let go into the column's last one (a full lane)
            island.lift_clear(0)
        kick, self.faults.kick = self.faults.kick, None
        end = self.shelves.column_back(lane_id) - ep.item.pitch / 2
        full = self.shelves.free_length(lane_id) < ep.item.pitch - 1e-9
        self.episode = Episode(island, ep.item, "place", "lane", lane_id, pos, hand, lane_end=end, full=full, kick=kick)

    # --- stepping -----------------------------------------------------------------------

    def step(self, h: float, hand: HandPose, grip_cmd: float) -> None:
        ep = self.episode
        assert ep is not None
        before = ep.island.grip_cmd
        ep.island.set_gripper(grip_cmd)
        steady = ep.island.grip_cmd == before
        if ep.kick is not None and not ep.island.fingers_touching(0):
            ep.island.kick(0, ep.kick)
            self.log("kicked", lane_id=ep.key, sku=ep.item.sku, detail=f"fault: flicked at {ep.kick} m/s")
            ep.kick = None
        if ep.mode == "carry" and self._rides(ep, h, hand, steady):
            ep.island.carry_rigid(h, hand, 0)
            ep.rigid += 1
        else:
            ep.island.step(h, hand)
        ep.min_opening = min(ep.min_opening, ep.island.finger_opening)
        pos, q = ep.island.pose(0)
        self.bodies.show(ep.item.body, pos, q)

    def _rides(self, ep: Episode, h: float, hand: HandPose, steady: bool) -> bool:
        """Whether the carried container rides in the fingers for this servo period without a solver
        step: settled in the hand (RIGID_AFTER_S into the carry, not sliding), the gripper command
        unchanged, and the hand's motion needing under RIGID_SHARE of the grip's friction."""
        isl = ep.island
        now = np.array([hand.x, hand.y, hand.z, hand.yaw])
        v = (now - np.array([isl.hand.x, isl.hand.y, isl.hand.z, isl.hand.yaw])) / h
        a, ep.hand_vel = (v - ep.hand_vel) / h, v
        if isl.time - ep.since < RIGID_AFTER_S or not steady:
            return False
        if np.linalg.norm(isl.in_hand(0) - ep.in_hand) > RIGID_DRIFT:  # type: ignore[operator]
            return False
        return isl.grip_share(0, a[:3], float(v[3]), float(a[3])) < RIGID_SHARE

    @property
    def opening(self) -> float:
        assert self.episode is not None
        return self.episode.island.finger_opening

    @property
    def effort(self) -> float:
        return 0.0 if self.episode is None else self.episode.island.effort

    def settle(self) -> None:
        """End an episode at once (the arm is teleported): a grasp not yet decided leaves the
        container where it is, a release runs on with the hand still until it is judged; a carry
        goes on (the caller holds the container by bookkeeping from then: :meth:`to_bookkeeping`)."""
        ep = self.episode
        if ep is None or ep.mode == "carry":
            return
        if ep.mode == "grasp":
            self._leave(ep, ep.island.pose(0)[0])
            self.episode = None
            return
        while self.episode is not None:
            self.step(0.05, ep.island.hand, ep.island.grip_cmd)
            self.judge(ep.island.grip_cmd)

    def to_bookkeeping(self) -> tuple[Item, float, float]:
        """End a carry: the container, its centre below the grasp centre and its yaw against the tool's."""
        ep = self.episode
        assert ep is not None and ep.mode == "carry"
        below = -float(ep.island.in_hand(0)[2])
        _, q = ep.island.pose(0)
        yaw = 2 * math.atan2(float(q[3]), float(q[0])) - ep.island.hand.yaw
        self.episode = None
        return ep.item, below, yaw

    # --- what the physics did -----------------------------------------------------------

    def judge(self, grip_cmd: float) -> str | None:
        """After a step: None while the episode goes on, else what ended it or changed its mode
        ("held", "slipped", "unmoved", "dropped", "placed", "jammed", "tipped")."""
        ep = self.episode
        assert ep is not None
        if ep.island.unstable is not None:
            return self._unstable(ep)
        if ep.mode == "grasp":
            return self._judge_grasp(grip_cmd)
        if ep.mode == "carry":
            if np.linalg.norm(ep.island.in_hand(0) - ep.in_hand) > CARRY_SLIP:  # type: ignore[operator]
                self.log("dropped", sku=ep.item.sku, detail="slipped out of the fingers while carried")
                self.bodies.release(ep.item)
                self.episode = None
                return "dropped"
            return None
        return self._judge_place()

    def _unstable(self, ep: Episode) -> str:
        """MuJoCo's solution blew up (and reset the island): the ground truth says so with the SKU
        and the lane, and the episode ends as a failure the arm sees. A grasp leaves the container
        where it stood (the fingers close on nothing: a missed grasp); a carried or released
        container is lost (out of the fingers, or not in the lane: its count does not rise)."""
        lane_id = ep.key if ep.where == "lane" else None
        self.log(
            "physics_unstable",
            lane_id=lane_id,
            sku=ep.item.sku,
            detail=f"{ep.mode} at {ep.where} {ep.key}: {ep.island.unstable}",
        )
        self.episode = None
        if ep.mode == "grasp":
            if ep.where == "lane":
                self.shelves.layout_lane(ep.key)
            else:
                self.bodies.show(ep.item.body, tuple(float(v) for v in ep.start))  # type: ignore[arg-type]
            return "slipped"
        self.log("dropped", lane_id=lane_id, sku=ep.item.sku, detail=f"lost in an unstable {ep.mode}")
        self.bodies.release(ep.item)
        return "dropped"

    def _judge_grasp(self, grip_cmd: float) -> str | None:
        ep = self.episode
        assert ep is not None
        isl = ep.island
        move = isl.hand.pos - ep.close_hand.pos
        moved = float(np.linalg.norm(move))
        pos, _ = isl.pose(0)
        sku = ep.item.sku
        lane_id = ep.key if ep.where == "lane" else None
        if moved < LIFT_CHECK:
            if grip_cmd > isl.finger_opening + 0.002 and not isl.fingers_touching(0):
                # Opened again before lifting (the controller gave up on this grasp): it stays. The
                # fingers had closed past it: a grasp that did not take (squeezed out or missed).
                if ep.min_opening <= SLID_OFF * self.store.skus[sku].across:  # type: ignore[index]
                    self.log("grasp_slipped", lane_id=lane_id, sku=sku, detail=f"from {ep.where} {ep.key}: no grip")
                self._leave(ep, pos)
                self.episode = None
                return "unmoved"
            return None
        followed = float(np.dot(pos - ep.start, move)) / (moved * moved)
        touching = isl.fingers_touching(0)
        if followed >= HELD_SHARE and len(touching) == 2:
            if ep.where == "stock":
                self.shelves.take_stock_front(ep.key)
                self.shelves.stock_nudge.pop(ep.key, None)
            else:
                self.shelves.lanes[ep.key].remove(ep.item)
                self.shelves.layout_lane(ep.key)
            self.bodies.unhide(ep.item.body)
            ep.mode, ep.in_hand, ep.since = "carry", isl.in_hand(0), isl.time
            self.log("grasp", lane_id=lane_id, sku=sku, detail=f"from {ep.where} {ep.key}")
            return "held"
        closed_past = isl.finger_opening <= SLID_OFF * self.store.skus[sku].across  # type: ignore[index]
        opened = grip_cmd > isl.finger_opening + 0.002  # the controller let go of a grasp that did not carry
        if not (closed_past or opened or moved >= GIVE_UP):
            return None  # the fingers slide along it: undecided until they close past it
        across = self.store.skus[sku].across  # type: ignore[index]
        why = "the fingers closed on nothing" if isl.finger_opening < 0.5 * across else "it slid out of the fingers"
        self.log("grasp_slipped", lane_id=lane_id, sku=sku, detail=f"from {ep.where} {ep.key}: {why}")
        self._leave(ep, pos)
        self.episode = None
        return "slipped"

    def _leave(self, ep: Episode, pos: np.ndarray) -> None:
        """A container the arm did not take stays where the physics left it; knocked over at the
        stock, or fallen, it is lost there."""
        upright = ep.island.tilt(0) < TIP_RAD
        offset = pos - ep.start
        if upright and abs(offset[2]) < 0.02 and math.hypot(offset[0], offset[1]) < 0.05:
            if ep.where == "stock":
                old = self.shelves.stock_nudge.get(ep.key, (0.0, 0.0))
                self.shelves.stock_nudge[ep.key] = (old[0] + float(offset[0]), old[1] + float(offset[1]))
                self.bodies.show(ep.item.body, (float(pos[0]), float(pos[1]), float(ep.start[2])))
            else:
                self.shelves.layout_lane(ep.key)
            return
        self.log("dropped", sku=ep.item.sku, detail=f"knocked over at {ep.where} {ep.key}")
        if ep.where == "stock":
            self.shelves.take_stock_front(ep.key)
            self.shelves.stock_nudge.pop(ep.key, None)
            self.bodies.release(ep.item)
        else:
            self.shelves.remove_from_lane(ep.key, ep.item.body)

    def _judge_place(self) -> str | None:
        ep = self.episode
        assert ep is not None
        isl = ep.island
        age = isl.time - ep.since
        still = isl.settled() and not isl.fingers_touching(0)
        ep.still_since = (ep.still_since if ep.still_since is not None else isl.time) if still else None
        # Still for a while, not for a moment: a container bouncing off the one in front stops
        # for an instant at the top of its bounce, short of where it comes to rest.
        resting = ep.still_since is not None and isl.time - ep.still_since >= STILL_S
        if age < PLACE_MIN_S or (age < PLACE_MAX_S and not resting):
            return None
        lane_id, item = ep.key, ep.item
        lv = self.shelves.lane(lane_id)
        pos, q = isl.pose(0)
        self.episode = None
        full = " (the lane was full)" if ep.full else ""
        inside = abs(pos[0] - lv.lane.x) < lv.lane.width / 2 and lv.back_y - 0.01 < pos[1] < lv.front_y
        if not inside or pos[2] < lv.board_z(float(pos[1])) - 0.01:
            self.log("dropped", lane_id=lane_id, sku=item.sku, detail=f"fell out of the lane{full}")
            self.bodies.release(item)
            return "dropped"
        at = f"at y={pos[1]:.3f}, {abs(ep.lane_end - pos[1]) * 1000:.0f} mm from the column's end"
        if isl.tilt(0) > TIP_RAD:
            outcome = "tipped"
        elif ep.lane_end - pos[1] > HOME_TOL or self.shelves.stuck(lane_id):
            outcome = "jammed"
        else:
            self.shelves.lanes[lane_id].append(item)
            self.shelves.layout_lane(lane_id)
            self.log("placed", lane_id=lane_id, sku=item.sku, detail=full.strip(" ()"))
            return "placed"
        item.stuck = outcome
        item.pose = (tuple(float(v) for v in pos), tuple(float(v) for v in q))  # type: ignore[assignment]
        self.shelves.lanes[lane_id].append(item)
        self.log(outcome, lane_id=lane_id, sku=item.sku, detail=at + full)
        return outcome
