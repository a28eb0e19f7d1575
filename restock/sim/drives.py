"""The arm's joint drives: what makes the simulated joints follow a trajectory, and how well. No rclpy.

Each of the five joints (rail, lift, shoulder, elbow, wrist) is a lumped inertia moved by a servo
drive (``robot.drives`` in the store description): a position loop with velocity feedback and
velocity feed-forward, its effort clipped at the drive's limit, the lift's weight compensated,
viscous friction left to the loop. No acceleration feed-forward, as in a position-interface
controller: the joint lags the trajectory while it accelerates (about a / omega^2), overshoots a
little as it stops, and a load or contact it cannot move stalls it with the effort at the limit.
The held container adds its mass and inertia. A joint also stops at its position limits and never
runs faster than :data:`SPEED_MARGIN` times its top speed.

Integrated at the servo period with implicit Euler (stable at any gain and step) while the effort
is within the limit, explicitly at the limit. Pure numpy over five joints: cheap at every step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from restock.store.description import Robot

SPEED_MARGIN = 1.5  # a joint moves at most this times its max velocity (a catch-up, never a jump)
# At rest: every joint this near its target (m or rad) and this slow (per s) is put on it.
SETTLED_POS = 1e-4
SETTLED_VEL = 1e-3


class Drives:
    """Positions, velocities and efforts of the arm's joints, advanced one servo period at a time.

    Plain floats per joint: five joints are too few for numpy's per-call cost (a day steps this
    at every servo period the arm moves)."""

    def __init__(self, robot: Robot, names: Sequence[str], q: Mapping[str, float]) -> None:
        self.robot = robot
        self.names = tuple(names)
        spec = [getattr(robot.drives, n) for n in self.names]
        self.kp = [d.kp for d in spec]
        self.kd = [d.kd for d in spec]
        self.friction = [d.friction for d in spec]
        self.max_effort = [d.max_effort for d in spec]
        self.lower = [robot.joint(n).lower for n in self.names]
        self.upper = [robot.joint(n).upper for n in self.names]
        self.top_speed = [robot.joint(n).max_velocity * SPEED_MARGIN for n in self.names]
        self.q = [float(q[n]) for n in self.names]
        self.v = [0.0] * len(self.names)
        self.effort = [0.0] * len(self.names)
        self.scale = [1.0] * len(self.names)  # a weak drive (a fault): this share of its effort
        self.payload = -1.0
        self.inertia: list[float] = []
        self.weight: list[float] = []
        self.hold(0.0)

    def hold(self, payload: float) -> None:
        """What the drives move: the arm and ``payload`` kg at the grasp centre."""
        if payload == self.payload:
            return
        self.payload = payload
        loads = [self.robot.drive_load(n, payload) for n in self.names]
        self.inertia = [m for m, _ in loads]
        self.weight = [w for _, w in loads]

    def weaken(self, scales: Mapping[str, float]) -> None:
        """Faults: these joints' drives give this share of their effort; the others all of it."""
        self.scale = [float(scales.get(n, 1.0)) for n in self.names]

    def place(self, q: Sequence[float]) -> None:
        """Put the joints somewhere at rest (a teleport, a restore, on the target when settled)."""
        self.q = [float(x) for x in q]
        self.v = [0.0] * len(self.names)
        self.effort = list(self.weight)

    def stop(self, q: Sequence[float]) -> None:
        """The joints were blocked where they stand (a contact): no motion this period."""
        self.q = [float(x) for x in q]
        self.v = [0.0] * len(self.names)

    def sagging(self, scales: Mapping[str, float]) -> bool:
        """Some drive, weakened so, cannot carry its joint's weight: it moves though told to stay."""
        limits = zip(self.names, self.weight, self.max_effort, strict=True)
        return any(w > effort * scales.get(n, 1.0) for n, w, effort in limits)

    @property
    def moving(self) -> bool:
        return any(v != 0.0 for v in self.v)

    def settled(self, target: Sequence[float]) -> bool:
        """At rest on the target: nothing left to integrate (the world may fast-forward)."""
        return all(
            abs(r - q) <= SETTLED_POS and abs(v) <= SETTLED_VEL for r, q, v in zip(target, self.q, self.v, strict=True)
        )

    def advance(self, h: float, ref: Sequence[float], ref_v: Sequence[float]) -> None:
        """One servo period of h seconds towards the reference positions and velocities."""
        for i in range(len(self.q)):
            m, kp, kd, b, w = self.inertia[i], self.kp[i], self.kd[i], self.friction[i], self.weight[i]
            q, v = self.q[i], self.v[i]
            # Implicit in the loop's terms: m (v' - v) / h = kp (ref - q - h v') + kd (ref_v - v') - b v'
            # (the weight, compensated, cancels out of it).
            v_new = (m * v / h + kp * (ref[i] - q) + kd * ref_v[i]) / (m / h + kp * h + kd + b)
            effort = kp * (ref[i] - q - h * v_new) + kd * (ref_v[i] - v_new) + w
            limit = self.max_effort[i] * self.scale[i]
            if abs(effort) > limit:  # at the limit: the clipped effort against friction and weight
                effort = limit if effort > 0 else -limit
                v_new = v + h * (effort - w - b * v) / m
            top = self.top_speed[i]
            v_new = min(max(v_new, -top), top)
            q_new = q + h * v_new
            if q_new < self.lower[i] or q_new > self.upper[i]:  # against a hard stop: there it stays
                q_new = min(max(q_new, self.lower[i]), self.upper[i])
                v_new = 0.0
            self.q[i], self.v[i], self.effort[i] = q_new, v_new, effort
