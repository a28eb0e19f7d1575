"""The simulator's cameras: renders, segmentation, boxes and domain randomisation. No rclpy.

Rendering uses MUJOCO_GL=egl (set by restock.sim.world if unset), shadows, reflections and the
skybox off; one renderer per (size, kind) is kept. Segmentation pixels carry body ids, which
``object_info`` (the world's) turns into :class:`restock.sim.bodies.ObjectInfo`. Domain
randomisation perturbs lights, colours and camera poses of the model and can undo it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mujoco
import numpy as np

from restock.sim.bodies import Bodies, ObjectInfo
from restock.sim.mjcf import HIDDEN_GROUP
from restock.store.description import Store


class Cameras:
    """Renders of the store cameras and the appearance of the scene.

    ``enabled=False`` creates no OpenGL context (a world that only simulates).
    """

    def __init__(
        self, store: Store, bodies: Bodies, object_info: Callable[[int], ObjectInfo], enabled: bool = True
    ) -> None:
        self.store = store
        self.bodies = bodies
        self.model = bodies.model
        self.data = bodies.data
        self.object_info = object_info
        self.enabled = enabled
        self.renderers: dict[tuple[int, int, bool, bool], mujoco.Renderer] = {}
        self.scene_option = mujoco.MjvOption()
        self.scene_option.geomgroup[HIDDEN_GROUP] = 0
        self.saved: dict[str, np.ndarray] | None = None
        self.saved_headlight: tuple[np.ndarray, np.ndarray] | None = None
        self.wrist = store.robot.wrist_camera
        # The wrist camera sees a held container a few cm away: the near plane (a fraction of the
        # model's extent) comes in to 1 cm; the far one stays where it was.
        self.model.vis.map.znear = min(float(self.model.vis.map.znear), 0.01 / max(float(self.model.stat.extent), 1e-3))

    def size(self, camera_id: str) -> tuple[int, int]:
        """(width, height) of a store camera or the wrist camera; KeyError names the cameras."""
        if camera_id == self.wrist.id:
            return self.wrist.width, self.wrist.height
        cam = self.store.camera(camera_id)
        return cam.width, cam.height

    def camera_name(self, camera_id: str) -> str:
        """The MuJoCo camera's name, for anyone who wants to reach into the model directly."""
        self.size(camera_id)  # raises KeyError naming the cameras
        return camera_id

    def renderer(self, width: int, height: int, segmentation: bool, depth: bool = False) -> mujoco.Renderer:
        if not self.enabled:
            raise RuntimeError("this World was made with render=False (no OpenGL context is created)")
        key = (width, height, segmentation, depth)
        r = self.renderers.get(key)
        if r is None:
            if width > self.model.vis.global_.offwidth or height > self.model.vis.global_.offheight:
                self.model.vis.global_.offwidth = max(width, self.model.vis.global_.offwidth)
                self.model.vis.global_.offheight = max(height, self.model.vis.global_.offheight)
            r = mujoco.Renderer(self.model, height=height, width=width, max_geom=4000)
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
            if segmentation:
                r.enable_segmentation_rendering()
            if depth:
                r.enable_depth_rendering()
            self.renderers[key] = r
        return r

    def prepare(self) -> None:
        if self.bodies.dirty:
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_camlight(self.model, self.data)
            self.bodies.dirty = False

    def render(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        """An RGB image (H, W, 3) uint8 from a store camera (or the wrist's), at its resolution unless given."""
        w, h = self.size(camera_id)
        r = self.renderer(width or w, height or h, False)
        self.prepare()
        r.update_scene(self.data, camera=camera_id, scene_option=self.scene_option)
        return r.render().copy()

    def render_depth(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        """Depth (H, W) float32 in metres along the optical axis, as an RGB-D camera reports it."""
        w, h = self.size(camera_id)
        r = self.renderer(width or w, height or h, False, depth=True)
        self.prepare()
        r.update_scene(self.data, camera=camera_id, scene_option=self.scene_option)
        return np.asarray(r.render(), dtype=np.float32).copy()

    def render_segmentation(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        """Object ids (H, W) int32 (body ids; -1 where nothing): look them up with :meth:`object_info`."""
        w, h = self.size(camera_id)
        r = self.renderer(width or w, height or h, True)
        self.prepare()
        r.update_scene(self.data, camera=camera_id, scene_option=self.scene_option)
        seg = r.render()
        geom = seg[..., 0]
        out = np.full(geom.shape, -1, dtype=np.int32)
        is_geom = (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & (geom >= 0)
        out[is_geom] = self.model.geom_bodyid[geom[is_geom]]
        return out

    def boxes(
        self, camera_id: str, min_pixels: int = 20, width: int | None = None, height: int | None = None
    ) -> list[tuple[ObjectInfo, tuple[int, int, int, int], int]]:
        """Visible objects with a vision label: (info, (x1, y1, x2, y2) px, visible pixels)."""
        seg = self.render_segmentation(camera_id, width, height)
        out = []
        for oid in np.unique(seg):
            if oid < 0:
                continue
            info = self.object_info(int(oid))
            if info.label is None:
                continue
            ys, xs = np.nonzero(seg == oid)
            if xs.size < min_pixels:
                continue
            out.append((info, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), int(xs.size)))
        return out

    # --- domain randomisation -----------------------------------------------------------

    def randomize_appearance(
        self,
        rng: np.random.Generator,
        lighting: bool = True,
        colors: bool = True,
        camera_jitter_m: float = 0.02,
        camera_jitter_deg: float = 2.0,
    ) -> None:
        """Perturb lights, colours and camera poses (undo with :meth:`reset_appearance`)."""
        m = self.model
        if self.saved is None:
            self.saved = {
                k: getattr(m, k).copy() for k in ("light_diffuse", "light_ambient", "geom_rgba", "cam_pos", "cam_quat")
            }
            self.saved_headlight = (m.vis.headlight.ambient.copy(), m.vis.headlight.diffuse.copy())
        self.reset_appearance(keep_saved=True)
        if lighting:
            m.light_diffuse[:] = np.clip(m.light_diffuse * rng.uniform(0.6, 1.4, (m.nlight, 1)), 0, 1)
            m.vis.headlight.ambient[:] = np.clip(self.saved_headlight[0] * rng.uniform(0.6, 1.4), 0, 1)
            m.vis.headlight.diffuse[:] = np.clip(self.saved_headlight[1] * rng.uniform(0.6, 1.4), 0, 1)
        if colors:
            jitter = rng.normal(0, 0.04, (m.ngeom, 3))
            m.geom_rgba[:, :3] = np.clip(m.geom_rgba[:, :3] + jitter, 0, 1)
        for i in range(m.ncam):
            m.cam_pos[i] += rng.normal(0, camera_jitter_m, 3)
            axis = rng.normal(0, 1, 3)
            axis /= np.linalg.norm(axis)
            ang = math.radians(rng.normal(0, camera_jitter_deg))
            dq = np.array([math.cos(ang / 2), *(math.sin(ang / 2) * axis)])
            q = np.empty(4)
            mujoco.mju_mulQuat(q, dq, m.cam_quat[i])
            m.cam_quat[i] = q
        self.bodies.dirty = True

    def reset_appearance(self, keep_saved: bool = False) -> None:
        if self.saved is None:
            return
        m = self.model
        for k, v in self.saved.items():
            if k == "geom_rgba":
                # Unfamiliar items are recoloured on each placement: keep their current colours.
                keep = np.isin(m.geom_bodyid, self.bodies.unfamiliar_bodies)
                m.geom_rgba[~keep, :3] = v[~keep, :3]
            else:
                getattr(m, k)[:] = v
        m.vis.headlight.ambient[:], m.vis.headlight.diffuse[:] = self.saved_headlight
        if not keep_saved:
            self.saved = None
        self.bodies.dirty = True
