"""The arm's parts as simple solids, and the two questions the safety envelope asks of them: does a
part touch an axis-aligned box (a keep-out volume), and does it lie wholly within one (an opening).

Capsules (the links, as the simulator builds them), vertical cylinders (the wrist shaft), spheres
(a held container, as a column) and boxes turned about +z with the tool (palm, fingers). Capsules
and cylinders are tested exactly, not as chains of spheres: a chain must stick out past a cylinder's
flat end by nearly its radius, which is more than a cooler's shelves leave. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Golden-section steps for a segment's distance to a box (the interval shrinks 0.618x per step).
SEGMENT_STEPS = 16  # on a 4 cm piece: within 0.02 mm
_GOLD = (np.sqrt(5.0) - 1.0) / 2.0


def _box_distance(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Distance from points p (..., D) to the box [lo, hi] (0 inside)."""
    return np.linalg.norm(np.maximum(np.maximum(lo - p, p - hi), 0.0), axis=-1)


def _overlap(a_lo: np.ndarray, a_hi: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether the boxes [a_lo, a_hi] (N, 3) overlap [lo, hi]."""
    x = (a_lo[:, 0] < hi[0]) & (a_hi[:, 0] > lo[0])
    return x & (a_lo[:, 1] < hi[1]) & (a_hi[:, 1] > lo[1]) & (a_lo[:, 2] < hi[2]) & (a_hi[:, 2] > lo[2])


def segment_box_distance(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Distance from segments a-b (N, 3) to the box [lo, hi]: the distance to a box is convex along a
    line, so a golden-section search on the segment's parameter finds its minimum."""
    t0, t1 = np.zeros(len(a)), np.ones(len(a))
    d = b - a
    for _ in range(SEGMENT_STEPS):
        m1 = t1 - _GOLD * (t1 - t0)
        m2 = t0 + _GOLD * (t1 - t0)
        f1 = _box_distance(a + m1[:, None] * d, lo, hi)
        f2 = _box_distance(a + m2[:, None] * d, lo, hi)
        left = f1 <= f2
        t1 = np.where(left, m2, t1)
        t0 = np.where(left, t0, m1)
    t = (t0 + t1) / 2
    ends = np.minimum(_box_distance(a, lo, hi), _box_distance(b, lo, hi))
    return np.minimum(_box_distance(a + t[:, None] * d, lo, hi), ends)


@dataclass(frozen=True)
class Body:
    """The arm's parts at M configurations; every array's first axis is the configuration."""

    capsules: np.ndarray  # (M, C, 2, 3): the segment's ends
    capsule_radii: np.ndarray  # (C,)
    cylinders: np.ndarray  # (M, Y, 2, 3): bottom and top centre of a vertical cylinder
    cylinder_radii: np.ndarray  # (Y,)
    spheres: np.ndarray  # (M, S, 3)
    sphere_radii: np.ndarray  # (S,)
    box_centres: np.ndarray  # (M, B, 3)
    box_half: np.ndarray  # (B, 3): along the tool, across it, up
    yaw: np.ndarray  # (M,): the tool's yaw, which turns the boxes

    def corners(self) -> np.ndarray:
        """The boxes' corners (M, B, 8, 3)."""
        signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], dtype=float)
        local = signs[None, :, :] * self.box_half[:, None, :]  # (B, 8, 3)
        cy, sy = np.cos(self.yaw)[:, None, None], np.sin(self.yaw)[:, None, None]
        x = local[None, :, :, 0] * cy - local[None, :, :, 1] * sy
        y = local[None, :, :, 0] * sy + local[None, :, :, 1] * cy
        z = np.broadcast_to(local[None, :, :, 2], x.shape)
        return self.box_centres[:, :, None, :] + np.stack([x, y, z], axis=-1)

    @cached_property
    def _flat(self) -> _Flat:
        caps = self.capsules.reshape(-1, 2, 3)
        cap_r = np.broadcast_to(self.capsule_radii, self.capsules.shape[:2]).reshape(-1)
        cyl = self.cylinders.reshape(-1, 2, 3)
        cyl_r = np.broadcast_to(self.cylinder_radii, self.cylinders.shape[:2]).reshape(-1)
        sph = self.spheres.reshape(-1, 3)
        sph_r = np.broadcast_to(self.sphere_radii, self.spheres.shape[:2]).reshape(-1)
        # A turned box's bounding box, from its half sizes (cheaper than reducing its corners).
        c, sn = np.abs(np.cos(self.yaw))[:, None], np.abs(np.sin(self.yaw))[:, None]  # (M, 1)
        ha, hc, hz = self.box_half[:, 0], self.box_half[:, 1], self.box_half[:, 2]  # (B,)
        ext = np.stack([ha * c + hc * sn, ha * sn + hc * c, np.broadcast_to(hz, c.shape[:1] + hz.shape)], axis=-1)
        centres = self.box_centres.reshape(-1, 3)
        ext = ext.reshape(-1, 3)
        return _Flat(
            caps,
            cap_r,
            np.minimum(caps[:, 0], caps[:, 1]) - cap_r[:, None],
            np.maximum(caps[:, 0], caps[:, 1]) + cap_r[:, None],
            cyl,
            cyl_r,
            sph,
            sph_r,
            self.corners().reshape(-1, 8, 3),
            centres - ext,
            centres + ext,
        )

    def touching(self, lo: np.ndarray, hi: np.ndarray) -> Parts:
        """The parts that touch the box [lo, hi] (turned boxes by their bounding boxes)."""
        f = self._flat
        near = _overlap(f.cap_lo, f.cap_hi, lo, hi)
        cap_hit = np.zeros(len(near), dtype=bool)
        if near.any():
            cap_hit[near] = segment_box_distance(f.caps[near, 0], f.caps[near, 1], lo, hi) < f.cap_r[near]
        cyl, cyl_r = f.cyl, f.cyl_r
        cyl_hit = (
            (cyl[:, 0, 2] < hi[2]) & (cyl[:, 1, 2] > lo[2]) & (_box_distance(cyl[:, 0, :2], lo[:2], hi[:2]) < cyl_r)
        )
        sph_hit = _box_distance(f.sph, lo, hi) < f.sph_r
        box_hit = _overlap(f.box_lo, f.box_hi, lo, hi)
        return Parts(cap_hit, cyl_hit, sph_hit, box_hit)

    def within_one(
        self, parts: Parts, held_lo: np.ndarray, held_hi: np.ndarray, arm_lo: np.ndarray, arm_hi: np.ndarray
    ) -> bool:
        """Whether every part in ``parts`` lies wholly within one opening: the held container (the
        spheres) within one of [held_lo, held_hi], the arm's own parts within one of [arm_lo, arm_hi]."""
        if not len(held_lo):
            return not parts.any()
        olo, ohi = arm_lo, arm_hi
        f = self._flat
        caps = f.caps[parts.capsules]  # (K, 2, 3)
        r = f.cap_r[parts.capsules]
        r = r[:, None, None, None]
        ends = caps[:, :, None, :]  # (K, 2, 1, 3) against (J, 3): both ends, shrunk openings
        ok = np.all((ends >= olo + r) & (ends <= ohi - r), axis=(1, 3))
        if not ok.any(axis=1).all():
            return False
        cyl = f.cyl[parts.cylinders]
        r = f.cyl_r[parts.cylinders]
        axis = cyl[:, None, 0, :2]  # (K, 1, 2) against (J, 2)
        rr = r[:, None, None]
        ok = (
            np.all((axis >= olo[:, :2] + rr) & (axis <= ohi[:, :2] - rr), axis=2)
            & (cyl[:, None, 0, 2] >= olo[:, 2])
            & (cyl[:, None, 1, 2] <= ohi[:, 2])
        )
        if not ok.any(axis=1).all():
            return False
        sph = f.sph[parts.spheres][:, None, :]
        r = f.sph_r[parts.spheres][:, None, None]
        if not np.all((sph >= held_lo + r) & (sph <= held_hi - r), axis=2).any(axis=1).all():
            return False
        cb = f.corners[parts.boxes][:, :, None, :]  # (K, 8, 1, 3)
        return bool(np.all((cb >= olo) & (cb <= ohi), axis=(1, 3)).any(axis=1).all())


@dataclass(frozen=True)
class _Flat:
    """A body's parts flattened over its configurations, with their bounding boxes: computed once,
    asked about every keep-out box."""

    caps: np.ndarray
    cap_r: np.ndarray
    cap_lo: np.ndarray
    cap_hi: np.ndarray
    cyl: np.ndarray
    cyl_r: np.ndarray
    sph: np.ndarray
    sph_r: np.ndarray
    corners: np.ndarray
    box_lo: np.ndarray
    box_hi: np.ndarray


@dataclass(frozen=True)
class Parts:
    """Which part instances (flattened over configurations) a test picked, per kind."""

    capsules: np.ndarray
    cylinders: np.ndarray
    spheres: np.ndarray
    boxes: np.ndarray

    def any(self) -> bool:
        return bool(self.capsules.any() or self.cylinders.any() or self.spheres.any() or self.boxes.any())
