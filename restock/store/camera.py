"""A pinhole camera placed by position and look-at point, in the store frame.

The optical frame follows REP-103's camera convention (z forward, x right, y down);
MuJoCo's camera frame (x right, y up, looking along -z) is :meth:`CameraModel.mujoco_xyaxes`.
The vertical field of view matches MuJoCo's ``fovy`` so renders and projections agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_WORLD_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class CameraModel:
    position: np.ndarray  # (3,) in the store frame
    rotation: np.ndarray  # (3, 3) columns are the optical x, y, z axes in the store frame
    fov_y_deg: float
    width: int
    height: int

    @classmethod
    def look_at(
        cls, position: np.ndarray, target: np.ndarray, fov_y_deg: float, width: int, height: int
    ) -> CameraModel:
        forward = target - position
        forward = forward / np.linalg.norm(forward)
        right = np.cross(forward, _WORLD_UP)
        if np.linalg.norm(right) < 1e-6:  # looking straight up or down: pick x as right
            right = np.array([1.0, 0.0, 0.0])
        right = right / np.linalg.norm(right)
        down = np.cross(forward, right)
        return cls(np.asarray(position, float), np.column_stack([right, down, forward]), fov_y_deg, width, height)

    @property
    def fy(self) -> float:
        return (self.height / 2) / math.tan(math.radians(self.fov_y_deg) / 2)

    @property
    def intrinsics(self) -> np.ndarray:
        """The 3x3 K matrix (square pixels, principal point at the image centre)."""
        f = self.fy
        return np.array([[f, 0, self.width / 2], [0, f, self.height / 2], [0, 0, 1.0]])

    def mujoco_xyaxes(self) -> list[float]:
        right, down = self.rotation[:, 0], self.rotation[:, 1]
        return [*right.tolist(), *(-down).tolist()]

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Store-frame points (N, 3) into the optical frame."""
        return (np.atleast_2d(points) - self.position) @ self.rotation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and depth (N,) of store-frame points; depth <= 0 is behind."""
        cam = self.to_camera(points)
        depth = cam[:, 2]
        safe = np.where(depth > 1e-9, depth, np.nan)
        k = self.intrinsics
        u = k[0, 0] * cam[:, 0] / safe + k[0, 2]
        v = k[1, 1] * cam[:, 1] / safe + k[1, 2]
        return np.column_stack([u, v]), depth

    def sees(self, point: np.ndarray, margin_px: float = 0.0) -> bool:
        uv, depth = self.project(point)
        u, v = uv[0]
        return bool(
            depth[0] > 0 and margin_px <= u <= self.width - margin_px and margin_px <= v <= self.height - margin_px
        )
