"""A physics island: the few bodies where the arm works, as a small MuJoCo model of its own. No rclpy.

While the arm grasps, carries or places a container, the simulator builds an island around the
tool: the hand (a heavy body at the grasp centre, its joints driven along the arm's path) with its palm and two
fingers on slide joints, each position-actuated with the gripper's force limit; the container in
hand and its neighbours as free bodies (mass from the SKU, friction from its kind); the board,
dividers and stops under and around them as fixed boxes. ``mj_step`` runs there and nowhere else:
the rest of the store stays bookkeeping. What happened (held, slipped, dropped, resting, jammed,
tipped) is read from the bodies' poses, never decided by a die.

Friction: a container's geoms carry its kind's coefficient (PET bottle, aluminium can, waxed
carton on rubber finger pads); boards, dividers and stops are gravity-feed roller tracks with a
low coefficient and a higher contact priority, so a container slides down a tilted board and a
grasp holds only by the fingers' squeeze (twice the friction times the grip force against the
weight and the arm's acceleration).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import mujoco
import numpy as np

from restock.store.arm_shape import ArmShape
from restock.store.description import Sku, Store

TIMESTEP = 0.002  # s
KIND_FRICTION = {"bottle": 0.45, "can": 0.35, "carton": 0.55}  # container on a rubber finger pad
TRACK_FRICTION = 0.03  # a gravity-feed lane's roller track (rolling resistance), dividers and stops: feeds at 3 degrees
FINGER_GAIN = 4000.0  # N/m: the gripper's position loop; saturates at the force limit
FINGER_DAMPING = 40.0  # N s/m
SETTLED_SPEED = 0.004  # m/s: a container slower than this has come to rest
SETTLED_SPIN = 0.08  # rad/s
# MuJoCo's warnings that it met a bad state (and reset the model's data)
BAD_STATE = (
    ("acceleration", mujoco.mjtWarning.mjWARN_BADQACC),
    ("velocity", mujoco.mjtWarning.mjWARN_BADQVEL),
    ("position", mujoco.mjtWarning.mjWARN_BADQPOS),
)
TORSION = 0.02  # m: a container's torsional friction on a pad (torque per newton of squeeze)
FINGER_FRICTION = 0.1  # a finger's own coefficient (MuJoCo takes the larger of a contact's two)
OVERLAP = 0.001  # m: two containers deeper in each other than this at an island's start are pulled apart


@dataclass(frozen=True)
class Box:
    """A fixed box: centre, half sizes, orientation (w, x, y, z)."""

    centre: tuple[float, float, float]
    half: tuple[float, float, float]
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Free:
    """A free container: its SKU and its pose (centre of its bounding box; w, x, y, z)."""

    sku: str
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class HandPose:
    """The grasp centre (x, y, z) and the tool's yaw."""

    x: float
    y: float
    z: float
    yaw: float

    @property
    def pos(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z])

    @property
    def quat(self) -> np.ndarray:
        return np.array([math.cos(self.yaw / 2), 0.0, 0.0, math.sin(self.yaw / 2)])


@dataclass
class Faults:
    """Explicit faults for tests and the day's chaos: a weaker grip, more friction everywhere."""

    grip_force_scale: float = 1.0
    friction_scale: float = 1.0
    # The next container let go leaves the fingers with this velocity (m/s, store x, y, z): a pad
    # that snags and flicks it; used once. Its lane may lose it (out of the back, over a divider).
    kick: tuple[float, float, float] | None = None
    # A weak joint drive (restock.sim.drives): joint name -> the share of its effort it still gives.
    drive_scale: dict[str, float] = field(default_factory=dict)


def _f(*v: float) -> str:
    return " ".join(f"{x:.6g}" for x in v)


def container_collision(sku: Sku, name: str, friction: float) -> list[str]:
    """Collision geoms of one container (the shape the renders draw, without labels): a bottle's
    body and neck, a can, a carton's box; with an inertial: the SKU's mass, a bottle's liquid low."""
    h, m = sku.height, sku.mass
    c = f'friction="{friction:.4g} {TORSION} 0.0001" condim="4"'  # rubber pads: torsional friction over ~4 cm
    if sku.kind == "carton":
        w, d = sku.width or 0.07, sku.depth or 0.07
        ixx, iyy, izz = m * (d * d + h * h) / 12, m * (w * w + h * h) / 12, m * (w * w + d * d) / 12
        return [
            f'<inertial pos="0 0 0" mass="{m:.4g}" diaginertia="{_f(ixx, iyy, izz)}"/>',
            f'<geom name="{name}_body" type="box" size="{_f(w / 2, d / 2, h * 0.4)}" pos="0 0 {-h * 0.1:.6g}" {c}/>',
            f'<geom name="{name}_top" type="box" size="{_f(w / 2 * 0.9, d / 2 * 0.25, h * 0.1)}" pos="0 0 {h * 0.4:.6g}" {c}/>',
        ]
    r = (sku.diameter or 0.06) / 2
    ixx, izz = m * (3 * r * r + h * h) / 12, m * r * r / 2
    if sku.kind == "bottle":
        return [
            f'<inertial pos="0 0 {-h * 0.12:.6g}" mass="{m:.4g}" diaginertia="{_f(ixx, ixx, izz)}"/>',
            f'<geom name="{name}_body" type="cylinder" size="{_f(r, h * 0.34)}" pos="0 0 {-h * 0.16:.6g}" {c}/>',
            f'<geom name="{name}_neck" type="cylinder" size="{_f(r * 0.45, h * 0.16)}" pos="0 0 {h * 0.34:.6g}" {c}/>',
        ]
    return [
        f'<inertial pos="0 0 0" mass="{m:.4g}" diaginertia="{_f(ixx, ixx, izz)}"/>',
        f'<geom name="{name}_body" type="cylinder" size="{_f(r, h / 2)}" {c}/>',
    ]


def _rotate_z(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])


@dataclass
class Island:
    """One island: built from its fixed boxes, free containers (index 0 is the one the episode is
    about) and the hand; stepped with the hand's path and the gripper's command."""

    store: Store
    boxes: Sequence[Box]
    free: Sequence[Free]
    hand: HandPose
    opening: float
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.model = mujoco.MjModel.from_xml_string(self._xml())
        self.data = mujoco.MjData(self.model)
        d, m = self.data, self.model
        self._fq = [int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"finger_{s}")]) for s in "lr"]
        assert [int(m.jnt_qposadr[k]) for k in range(4)] == [0, 1, 2, 3]  # the hand's joints come first
        half = min(max(self.opening / 2, 0.0), self.store.robot.gripper.max_opening / 2)
        for adr in self._fq:
            d.qpos[adr] = half
        self.grip_cmd = 2 * half
        d.ctrl[:] = half
        self._bodies = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"c{k}") for k in range(len(self.free))]
        self._qadr = [int(m.jnt_qposadr[m.body_jntadr[b]]) for b in self._bodies]
        self._vadr = [int(m.jnt_dofadr[m.body_jntadr[b]]) for b in self._bodies]
        for k, c in enumerate(self.free):
            d.qpos[self._qadr[k] : self._qadr[k] + 3] = c.pos
            d.qpos[self._qadr[k] + 3 : self._qadr[k] + 7] = c.quat
        self._finger_geoms = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"finger_{s}"): s for s in "lr"}
        self._set_hand(self.hand)
        mujoco.mj_forward(m, d)
        self.time = 0.0
        self.unstable: str | None = None  # why MuJoCo's solution blew up (then the state is void)

    # --- the model ----------------------------------------------------------------------

    def _xml(self) -> str:
        store, robot = self.store, self.store.robot
        shape = ArmShape.of(robot)
        lt = robot.tool_length
        force = robot.gripper.max_force * self.faults.grip_force_scale
        half_open = robot.gripper.max_opening / 2
        track = f'friction="{TRACK_FRICTION * self.faults.friction_scale:.4g} 0.005 0.0001" priority="1" condim="3"'
        L = [
            '<mujoco model="island">',
            '<compiler angle="radian" autolimits="true"/>',
            '<default><geom solref="0.004 1"/></default>',
            f'<option timestep="{TIMESTEP}" gravity="0 0 -9.81" cone="elliptic" impratio="10"><flag multiccd="enable"/></option>',
            "<worldbody>",
            f'<geom name="floor" type="plane" size="5 5 0.1" {track}/>',
        ]
        for k, b in enumerate(self.boxes):
            L.append(
                f'<geom name="fixed{k}" type="box" size="{_f(*b.half)}" pos="{_f(*b.centre)}" quat="{_f(*b.quat)}" {track}/>'
            )
        # The hand: palm and fingers as the arm's model has them, around the grasp centre.
        # Slide and hinge joints the arm's path drives (positions and velocities written each step),
        # so the fingers have real velocity and their friction carries what they squeeze.
        L.append('<body name="hand" gravcomp="1">')
        L.append('<inertial pos="0 0 0" mass="1000" diaginertia="100 100 100"/>')
        for j, axis in (("hx", "1 0 0"), ("hy", "0 1 0"), ("hz", "0 0 1")):
            L.append(f'<joint name="{j}" type="slide" axis="{axis}"/>')
        L.append('<joint name="hyaw" type="hinge" axis="0 0 1"/>')
        L.append(
            f'<geom name="palm" type="box" size="{_f(*shape.palm_half)}" pos="{_f(shape.palm_centre[0] - lt, 0, shape.palm_centre[1])}" contype="1" conaffinity="1" {track}/>'
        )
        for side, sign in (("l", 1), ("r", -1)):
            L.append(f'<body name="finger_{side}" gravcomp="1">')
            L.append(
                f'<joint name="finger_{side}" type="slide" axis="0 {sign} 0" range="{_f(0, half_open)}" damping="{FINGER_DAMPING}"/>'
            )
            L.append(
                f'<geom name="finger_{side}" type="box" size="{_f(*shape.finger_half)}" pos="{_f(shape.finger_centre - lt, sign * shape.finger_half[1], 0)}" mass="0.05" friction="{FINGER_FRICTION} 0.005 0.0001" condim="4"/>'
            )
            L.append("</body>")
        L.append("</body>")
        for k, c in enumerate(self.free):
            sku = store.skus[c.sku]
            mu = KIND_FRICTION[sku.kind] * self.faults.friction_scale
            L.append(f'<body name="c{k}"><freejoint/>')
            L.extend(container_collision(sku, f"c{k}", mu))
            L.append("</body>")
        # One drive for both fingers (a parallel gripper's rack and pinion): the pair stays centred on
        # the tool. It pushes one finger and the coupling pulls the other, so twice the gripper's
        # force on the drive squeezes the container with the gripper's force.
        L.append(
            '</worldbody><equality><joint joint1="finger_r" joint2="finger_l" polycoef="0 1 0 0 0" solref="0.004 1" solimp="0.99 0.999 0.001"/></equality>'
        )
        L.append(
            f'<actuator><position name="fingers" joint="finger_l" kp="{2 * FINGER_GAIN}" ctrlrange="{_f(0, half_open)}" forcerange="{_f(-2 * force, 2 * force)}"/>'
        )
        L.append("</actuator></mujoco>")
        return "\n".join(L)

    # --- stepping -----------------------------------------------------------------------

    def _set_hand(self, pose: HandPose, velocity: Sequence[float] = (0.0, 0.0, 0.0, 0.0)) -> None:
        for k in range(4):
            self.data.qpos[k] = (pose.x, pose.y, pose.z, pose.yaw)[k]
            self.data.qvel[k] = velocity[k]

    def set_gripper(self, opening: float) -> None:
        self.grip_cmd = min(max(opening, 0.0), self.store.robot.gripper.max_opening)

    def step(self, h: float, hand: HandPose | None = None) -> None:
        """Advance h seconds, the hand moving in a straight line (and yaw) to ``hand``."""
        n = max(1, round(h / TIMESTEP))
        start, end = self.hand, hand or self.hand
        m, d = self.model, self.data
        d.ctrl[:] = self.grip_cmd / 2
        a, b = np.array([start.x, start.y, start.z, start.yaw]), np.array([end.x, end.y, end.z, end.yaw])
        v = (b - a) / (n * TIMESTEP)
        qpos, qvel = d.qpos, d.qvel
        for i in range(n):
            qpos[:4] = a + (b - a) * (i / n)  # the hand's joints (the first four) follow the arm's path
            qvel[:4] = v
            mujoco.mj_step(m, d)
        qpos[:4] = b
        qvel[:4] = v
        self.hand = end
        self.time += n * TIMESTEP
        self._check_stable()

    def _check_stable(self) -> None:
        """MuJoCo meeting a NaN, an Inf or a huge acceleration warns and resets the model's state
        silently (every body back at its origin): whatever is read afterwards is void, so it is
        noted here (which body) for the episode to end as a failure."""
        if self.unstable is not None:
            return
        bad = [(what, self.data.warning[w]) for what, w in BAD_STATE if self.data.warning[w].number]
        if not bad and math.isfinite(float(self.data.qpos.sum() + self.data.qvel.sum())):
            return
        what, dof = (bad[0][0], int(bad[0][1].lastinfo)) if bad else ("state", -1)
        body = self.model.dof_bodyid[dof] if 0 <= dof < self.model.nv else -1
        name = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, int(body)) if body >= 0 else None
        self.unstable = f"NaN, Inf or huge {what} at DOF {dof} ({name or 'unknown body'}) by {self.time:.2f} s"

    # --- what the physics says ----------------------------------------------------------

    @property
    def finger_opening(self) -> float:
        return float(sum(self.data.qpos[a] for a in self._fq))

    @property
    def effort(self) -> float:
        """The fingers' squeeze (N): half the drive's force (see the actuator), closing positive."""
        return float(-self.data.actuator_force[0]) / 2

    def pose(self, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        a = self._qadr[k]
        return self.data.qpos[a : a + 3].copy(), self.data.qpos[a + 3 : a + 7].copy()

    def speed(self, k: int = 0) -> tuple[float, float]:
        v = self._vadr[k]
        return float(np.linalg.norm(self.data.qvel[v : v + 3])), float(np.linalg.norm(self.data.qvel[v + 3 : v + 6]))

    def in_hand(self, k: int = 0) -> np.ndarray:
        """Container k's centre in the hand's frame (along the tool, across, up)."""
        p, _ = self.pose(k)
        d = p - self.hand.pos
        c, s = math.cos(self.hand.yaw), math.sin(self.hand.yaw)
        return np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2]])

    def grip_share(self, k: int, accel: np.ndarray, yaw_rate: float, yaw_accel: float) -> float:
        """The share of the fingers' friction that holding container k needs while the hand
        accelerates at ``accel`` (m/s^2, store frame) and turns at ``yaw_rate`` (rad/s) speeding up
        by ``yaw_accel``: the force in the pads' plane (along the tool and up, gravity included)
        against twice the friction times the squeeze, and its torque about the squeeze axis against
        the pads' torsional friction. Over 1 it slips."""
        squeeze = self.effort
        if squeeze <= 0.0:
            return math.inf
        sku = self.store.skus[self.free[k].sku]
        mu = max(KIND_FRICTION[sku.kind] * self.faults.friction_scale, FINGER_FRICTION)
        com = self.in_hand(k) + self.model.body_ipos[self._bodies[k]]  # upright in the hand: body axes = hand's
        c, s = math.cos(self.hand.yaw), math.sin(self.hand.yaw)
        a = np.array([c * accel[0] + s * accel[1], -s * accel[0] + c * accel[1], accel[2] + 9.81])
        a += yaw_accel * np.array([-com[1], com[0], 0.0]) - yaw_rate**2 * np.array([com[0], com[1], 0.0])
        force = sku.mass * math.hypot(a[0], a[2])
        torque = force * math.hypot(com[0], com[2])
        return max(force / (2 * mu * squeeze), torque / (2 * TORSION * squeeze))

    def carry_rigid(self, h: float, hand: HandPose, k: int) -> None:
        """Advance h seconds with container k riding fixed in the hand (where it sits now) and no
        solver step: for a carry well inside the friction cone (:meth:`grip_share`), which MuJoCo
        would solve to the same place. Positions and velocities are written as the motion has them,
        so a solver step can take over at any moment."""
        d, a = self.data, self._qadr[k]
        n = max(1, round(h / TIMESTEP))
        dt = n * TIMESTEP
        old, yaw0 = self.hand.pos, self.hand.yaw
        offset = _rotate_z(d.qpos[a : a + 3] - old, -yaw0)
        turn = hand.yaw - yaw0
        q = d.qpos[a + 3 : a + 7].copy()
        mujoco.mju_mulQuat(q, np.array([math.cos(turn / 2), 0.0, 0.0, math.sin(turn / 2)]), q)
        v_hand = (hand.pos - old) / dt
        arm = _rotate_z(offset, hand.yaw)
        d.qpos[:4] = (hand.x, hand.y, hand.z, hand.yaw)
        d.qvel[:4] = (*v_hand, turn / dt)
        d.qpos[a : a + 3] = hand.pos + arm
        d.qpos[a + 3 : a + 7] = q
        v = self._vadr[k]
        d.qvel[v : v + 3] = v_hand + (turn / dt) * np.array([-arm[1], arm[0], 0.0])
        spin = np.zeros(3)  # the free joint's angular velocity is in the body's own frame
        conj = q * np.array([1.0, -1.0, -1.0, -1.0])
        mujoco.mju_rotVecQuat(spin, np.array([0.0, 0.0, turn / dt]), conj)
        d.qvel[v + 3 : v + 6] = spin
        self.hand = hand
        self.time += dt

    def tilt(self, k: int = 0) -> float:
        """How far container k leans from upright (rad)."""
        _, q = self.pose(k)
        x, y = float(q[1]), float(q[2])
        up_z = 1 - 2 * (x * x + y * y)
        return float(math.acos(min(max(up_z, -1.0), 1.0)))

    def fingers_touching(self, k: int = 0) -> set[str]:
        """Which fingers ("l", "r") touch container k now."""
        body = self._bodies[k]
        out = set()
        for i in range(self.data.ncon):
            c = self.data.contact[i]
            for g, other in ((c.geom1, c.geom2), (c.geom2, c.geom1)):
                if g in self._finger_geoms and self.model.geom_bodyid[other] == body:
                    out.add(self._finger_geoms[g])
        return out

    def push_clear_of_hand(self, k: int = 0, tries: int = 6) -> float:
        """Move free container k out of the fingers and palm where it overlaps them: the hand came
        in along its path before the island began, and a finger sliding in beside a container
        pushes it aside rather than passing through it. Returns how far it moved (m)."""
        m = self.model
        hand = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in ("hand", "finger_l", "finger_r")}
        return self._push_out(k, hand, tries, 1e-4)

    def clear_of_containers(self, k: int = 0, tries: int = 8) -> float:
        """Move free container k out of the other containers it overlaps (never down): it was
        carried in where the bookkeeping column stands, and two bodies deep in each other make
        MuJoCo's contact forces blow up. Returns how far it moved (m)."""
        others = {b for j, b in enumerate(self._bodies) if j != k}
        return self._push_out(k, others, tries, OVERLAP)

    def _push_out(self, k: int, others: set[int], tries: int, slack: float) -> float:
        """Push free container k along the contact normals out of the bodies ``others`` until it is
        less than ``slack`` deep in any of them (or ``tries`` runs out). Returns how far (m)."""
        m, d = self.model, self.data
        body, moved = self._bodies[k], 0.0
        for _ in range(tries):
            mujoco.mj_forward(m, d)
            push, depth = np.zeros(3), 0.0
            for i in range(d.ncon):
                c = d.contact[i]
                b1, b2 = int(m.geom_bodyid[c.geom1]), int(m.geom_bodyid[c.geom2])
                other = b2 if b1 == body else b1 if b2 == body else -1
                if c.dist >= -slack or other not in others:
                    continue
                normal = np.array(c.frame[:3])  # from geom1 to geom2
                push += (normal if b2 == body else -normal) * -c.dist
                depth = max(depth, -float(c.dist))
            if depth == 0.0:
                break
            step = push / max(np.linalg.norm(push), 1e-9) * (depth + 5e-4)
            step[2] = max(step[2], 0.0)  # never down into what it stands on
            d.qpos[self._qadr[k] : self._qadr[k] + 3] += step
            moved += float(np.linalg.norm(step))
        mujoco.mj_forward(m, d)
        return moved

    def lift_clear(self, k: int = 0, tries: int = 4) -> float:
        """Raise free container k out of any fixed box it overlaps (carried in over a board's edge,
        which the carry's island did not hold); returns how far (m)."""
        m, d = self.model, self.data
        body, raised = self._bodies[k], 0.0
        for _ in range(tries):
            mujoco.mj_forward(m, d)
            depth = 0.0
            for i in range(d.ncon):
                c = d.contact[i]
                ids = {int(m.geom_bodyid[c.geom1]), int(m.geom_bodyid[c.geom2])}
                if body in ids and 0 in ids:  # against the world's fixed boxes
                    depth = max(depth, -float(c.dist))
            if depth <= 1e-4:
                break
            d.qpos[self._qadr[k] + 2] += depth + 5e-4
            raised += depth + 5e-4
        mujoco.mj_forward(m, d)
        return raised

    def kick(self, k: int, velocity: tuple[float, float, float]) -> None:
        """Give free container k a velocity (m/s) now."""
        self.data.qvel[self._vadr[k] : self._vadr[k] + 3] = velocity

    def settled(self) -> bool:
        return all(v < SETTLED_SPEED and w < SETTLED_SPIN for v, w in (self.speed(k) for k in range(len(self.free))))
