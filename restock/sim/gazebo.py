"""The Gazebo world of a store, from the same description the MuJoCo simulator reads. No rclpy.

`restock gazebo-world --store FILE --out DIR` writes:

- ``<store>.sdf``: an SDF 1.9 world: ground, the case (tilted boards, dividers, walls), the
  back-room rack with each location's front container, every lane full of containers (one small
  model each, with mass and inertia), the rail robot (joints rail_x, lift_z, shoulder, elbow,
  wrist, finger_l, finger_r) with gz-sim's JointTrajectoryController, JointPositionController
  per finger and JointStatePublisher, and one camera sensor per store camera;
- ``<store>.mjcf.xml``: the embedded simulator's MuJoCo model of the same store (for viewers);
- ``<store>_bridge.yaml``: the ros_gz_bridge configuration for the same topics the embedded sim
  uses (/clock, arm_controller/joint_trajectory, cameras/<id>/image_raw and camera_info), plus
  ``gz/joint_states`` and ``gz/finger_{l,r}/cmd_pos``, which the sim node's Gazebo adapter
  (``restock-sim --gz-adapter``) turns into joint_states (with ``gripper`` = opening) and takes
  from gripper_controller/commands, as the embedded sim does.

Customers, staff and ground truth exist only in the embedded simulator.
Validated in the tests with Debian's ``ign sdf -k`` (packages ignition-tools, libsdformat12).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from restock.paths import store_file
from restock.store.arm_shape import ArmShape
from restock.store.description import Sku, Store, StoreError, load_store

ROBOT = "robot"
ARM_JOINT_TOPIC = f"/model/{ROBOT}/joint_trajectory"
JOINT_STATE_TOPIC = f"/model/{ROBOT}/joint_state"


def _f(*v: float) -> str:
    return " ".join(f"{x:.6g}" for x in v)


def _pose(xyz: tuple[float, ...] | list[float], rpy: tuple[float, ...] = (0, 0, 0), rel: str | None = None) -> str:
    attr = f' relative_to="{rel}"' if rel else ""
    return f"<pose{attr}>{_f(*xyz, *rpy)}</pose>"


def _material(rgb: tuple[float, ...] | list[float]) -> str:
    c = _f(*rgb[:3], 1)
    return f"<material><ambient>{c}</ambient><diffuse>{c}</diffuse><specular>0.1 0.1 0.1 1</specular></material>"


def _box(
    name: str, size: tuple[float, ...], xyz: tuple[float, ...], rgb: tuple[float, ...], rpy=(0, 0, 0), collide=True
) -> str:
    geo = f"<geometry><box><size>{_f(*size)}</size></box></geometry>"
    out = f'<visual name="{name}_v">{_pose(xyz, rpy)}{geo}{_material(rgb)}</visual>'
    if collide:
        out += f'<collision name="{name}_c">{_pose(xyz, rpy)}{geo}</collision>'
    return out


def _inertial(mass: float, ixx: float, iyy: float, izz: float) -> str:
    return (
        f"<inertial><mass>{mass:.6g}</mass><inertia><ixx>{ixx:.6g}</ixx><ixy>0</ixy><ixz>0</ixz>"
        f"<iyy>{iyy:.6g}</iyy><iyz>0</iyz><izz>{izz:.6g}</izz></inertia></inertial>"
    )


def container_model(name: str, sku: Sku, xyz: tuple[float, float, float], roll: float = 0.0) -> str:
    """One container as a free model: body collision, body and label visuals."""
    h, m = sku.height, sku.mass
    if sku.kind == "carton":
        w, d = sku.width or 0.07, sku.depth or 0.07
        geo = f"<geometry><box><size>{_f(w, d, h)}</size></box></geometry>"
        label = f"<geometry><box><size>{_f(w + 0.002, d + 0.002, h * 0.25)}</size></box></geometry>"
        inertia = _inertial(m, m * (d * d + h * h) / 12, m * (w * w + h * h) / 12, m * (w * w + d * d) / 12)
    else:
        r = (sku.diameter or 0.06) / 2
        geo = f"<geometry><cylinder><radius>{r:.6g}</radius><length>{h:.6g}</length></cylinder></geometry>"
        label = (
            f"<geometry><cylinder><radius>{r + 0.001:.6g}</radius><length>{h * 0.25:.6g}</length></cylinder></geometry>"
        )
        inertia = _inertial(m, m * (3 * r * r + h * h) / 12, m * (3 * r * r + h * h) / 12, m * r * r / 2)
    return (
        f'<model name="{name}">{_pose(xyz, (roll, 0, 0))}<link name="link">{inertia}'
        f'<collision name="body_c">{geo}</collision>'
        f'<visual name="body_v">{geo}{_material(sku.color)}</visual>'
        f'<visual name="label_v">{label}{_material(sku.label_color)}</visual>'
        "</link></model>"
    )


def _camera_rpy(rotation: np.ndarray) -> tuple[float, float, float]:
    """SDF roll/pitch/yaw of a Gazebo camera (x forward, y left, z up) from optical-frame axes."""
    right, down, forward = rotation[:, 0], rotation[:, 1], rotation[:, 2]
    r = Rotation.from_matrix(np.column_stack([forward, -right, -down]))
    roll, pitch, yaw = r.as_euler("xyz")
    return (float(roll), float(pitch), float(yaw))


def world_sdf(store: Store) -> str:
    case, _robot = store.case, store.robot
    world = f"restock_{store.name.replace('-', '_')}"
    xmid, width = (case.x_min + case.x_max) / 2, case.x_max - case.x_min
    depth = max(r.depth for r in case.rows)
    top_z = max(r.height + r.clearance for r in case.rows) + 0.05
    grey = (0.85, 0.85, 0.87)
    out: list[str] = ['<?xml version="1.0"?>', '<sdf version="1.9">', f'<world name="{world}">']
    a = out.append
    a(
        '<physics name="2ms" type="ignored"><max_step_size>0.002</max_step_size><real_time_factor>1.0</real_time_factor></physics>'
    )
    for plugin, cls in (
        ("physics", "Physics"),
        ("user-commands", "UserCommands"),
        ("scene-broadcaster", "SceneBroadcaster"),
    ):
        a(f'<plugin filename="gz-sim-{plugin}-system" name="gz::sim::systems::{cls}"/>')
    a(
        '<plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors"><render_engine>ogre2</render_engine></plugin>'
    )
    a("<gravity>0 0 -9.81</gravity>")
    a(
        "<scene><ambient>0.45 0.45 0.45 1</ambient><background>0.7 0.7 0.7 1</background><shadows>false</shadows></scene>"
    )
    a(
        f'<light type="directional" name="ceiling"><cast_shadows>false</cast_shadows>{_pose((xmid, 1.5, 3.0))}'
        "<diffuse>0.7 0.7 0.7 1</diffuse><specular>0.1 0.1 0.1 1</specular><direction>0 0.3 -1</direction></light>"
    )
    a(
        '<model name="ground_plane"><static>true</static><link name="link">'
        '<collision name="c"><geometry><plane><normal>0 0 1</normal><size>20 20</size></plane></geometry></collision>'
        f'<visual name="v"><geometry><plane><normal>0 0 1</normal><size>20 20</size></plane></geometry>{_material((0.55, 0.55, 0.52))}</visual>'
        "</link></model>"
    )

    # The case: walls, top, plinth, boards tilted front-down, dividers.
    parts = []
    for side, x in (("l", case.x_min - 0.03), ("r", case.x_max + 0.03)):
        parts.append(_box(f"wall_{side}", (0.04, depth + 0.08, top_z), (x, case.back_y + depth / 2, top_z / 2), grey))
    parts.append(_box("top", (width + 0.1, depth + 0.08, 0.06), (xmid, case.back_y + depth / 2, top_z + 0.03), grey))
    low = min(r.height for r in case.rows)
    parts.append(
        _box(
            "plinth",
            (width + 0.1, depth + 0.08, low - 0.05),
            (xmid, case.back_y + depth / 2, (low - 0.05) / 2),
            (0.25, 0.25, 0.27),
        )
    )
    for row in case.rows:
        tilt = math.radians(row.tilt_deg)
        ymid = case.back_y + row.depth / 2
        zmid = row.height - (row.depth / 2) * math.tan(tilt) - 0.008
        parts.append(
            _box(
                f"board_{row.id}",
                (width, row.depth / math.cos(tilt), 0.016),
                (xmid, ymid, zmid),
                (0.8, 0.8, 0.82),
                (-tilt, 0, 0),
            )
        )
        edges = sorted(
            {round(ln.x - ln.width / 2, 4) for ln in row.lanes} | {round(ln.x + ln.width / 2, 4) for ln in row.lanes}
        )
        for k, x in enumerate(edges):
            z = row.height - (row.depth / 2) * math.tan(tilt) + 0.02
            parts.append(
                _box(f"divider_{row.id}_{k}", (0.003, row.depth, 0.04), (x, ymid, z), (0.9, 0.9, 0.95), (-tilt, 0, 0))
            )
    a(f'<model name="case"><static>true</static><link name="link">{"".join(parts)}</link></model>')

    # The back-room rack and each stocked location's front container.
    xs = [loc.x for loc in store.stock.locations]
    rack_w, rack_x = max(xs) - min(xs) + 0.4, (max(xs) + min(xs)) / 2
    parts = [
        _box(f"shelf_{k}", (rack_w, 0.4, 0.02), (rack_x, store.stock.y - 0.2, z - 0.01), (0.5, 0.45, 0.4))
        for k, z in enumerate(sorted({loc.z for loc in store.stock.locations}))
    ]
    parts.append(_box("back", (rack_w, 0.02, 1.2), (rack_x, store.stock.y - 0.41, 0.6), (0.5, 0.45, 0.4)))
    a(f'<model name="stock_rack"><static>true</static><link name="link">{"".join(parts)}</link></model>')
    for loc in store.stock.locations:
        if loc.quantity > 0:
            a(container_model(f"stock_{loc.id}", store.skus[loc.sku], store.stock_pick_point(loc)))

    # Every lane full: containers from the front back, on the sloped board.
    for lv in store.lanes:
        tilt = math.radians(lv.row.tilt_deg)
        for k in range(lv.lane.capacity):
            x, y, z = lv.slot_centre(k)
            a(container_model(f"{lv.id}_{k}", lv.sku, (x, y, z + 0.001), -tilt))

    a(robot_model(store))

    # Cameras: a static model with one camera sensor per store camera.
    parts = []
    for cam in store.cameras:
        m = cam.model
        hfov = 2 * math.atan(math.tan(math.radians(cam.fov_y_deg) / 2) * cam.width / cam.height)
        parts.append(
            f'<link name="{cam.id}_link">{_pose(tuple(m.position), _camera_rpy(m.rotation))}'
            f'<sensor name="{cam.id}" type="camera"><gz_frame_id>{cam.id}_optical_frame</gz_frame_id><always_on>true</always_on><update_rate>{cam.rate_hz:.6g}</update_rate>'
            f"<topic>/cameras/{cam.id}/image_raw</topic>"
            f"<camera><horizontal_fov>{hfov:.6g}</horizontal_fov>"
            f"<image><width>{cam.width}</width><height>{cam.height}</height><format>R8G8B8</format></image>"
            "<clip><near>0.05</near><far>20</far></clip></camera></sensor></link>"
        )
    a(f'<model name="cameras"><static>true</static>{"".join(parts)}</model>')
    a("</world>")
    a("</sdf>")
    return "\n".join(out) + "\n"


def robot_model(store: Store) -> str:
    """The rail robot: joints and controllers named as in the embedded simulator."""
    robot = store.robot
    lim = {j.name: j for j in robot.joints}
    l1, l2, lt = robot.upper_arm, robot.forearm, robot.tool_length
    half = robot.gripper.max_opening / 2
    shape = ArmShape.of(robot)  # the parts' sizes, as the MuJoCo model and the envelope have them
    orange, white, dark = (0.9, 0.45, 0.1), (0.92, 0.92, 0.92), (0.2, 0.22, 0.25)

    def link(name: str, pose: str, mass: float, body: str) -> str:
        i = mass * 0.01
        return f'<link name="{name}">{pose}{_inertial(mass, i, i, i)}{body}</link>'

    def joint(
        name: str,
        kind: str,
        parent: str,
        child: str,
        axis: tuple[float, float, float],
        lo: float,
        hi: float,
        vel: float,
        effort: float,
    ) -> str:
        return (
            f'<joint name="{name}" type="{kind}"><parent>{parent}</parent><child>{child}</child>'
            f"<axis><xyz>{_f(*axis)}</xyz><limit><lower>{lo:.6g}</lower><upper>{hi:.6g}</upper>"
            f"<effort>{effort:.6g}</effort><velocity>{vel:.6g}</velocity></limit>"
            "<dynamics><damping>5</damping></dynamics></axis></joint>"
        )

    rail = lim["rail_x"]
    drives = robot.drives  # the joints' effort limits, as the embedded simulator's drives have them
    parts = [
        f'<model name="{ROBOT}">',
        _pose((0, robot.rail_y, 0)),
        link(
            "base",
            "",
            50.0,
            _box(
                "rail",
                (rail.upper - rail.lower + 0.3, 0.08, 0.04),
                ((rail.upper + rail.lower) / 2, 0, 0.02),
                (0.3, 0.3, 0.32),
            ),
        ),
        '<joint name="fixed_to_world" type="fixed"><parent>world</parent><child>base</child></joint>',
        link("carriage", _pose((0, 0, 0), rel="base"), 20.0, _box("carriage", (0.24, 0.2, 0.1), (0, 0, 0.09), dark)),
        joint(
            "rail_x",
            "prismatic",
            "base",
            "carriage",
            (1, 0, 0),
            rail.lower,
            rail.upper,
            rail.max_velocity,
            drives.rail_x.max_effort,
        ),
        link(
            "lift",
            _pose((0, 0, robot.base_height), rel="carriage"),
            3.0,
            _box("lift", (0.12, 0.12, 0.06), (-0.04, -0.03, 0.045), orange),
        ),
        joint(
            "lift_z",
            "prismatic",
            "carriage",
            "lift",
            (0, 0, 1),
            lim["lift_z"].lower,
            lim["lift_z"].upper,
            lim["lift_z"].max_velocity,
            drives.lift_z.max_effort,
        ),
        link(
            "upper_arm",
            _pose((0, 0, 0), rel="lift"),
            2.0,
            _box("upper_arm", (l1, 0.06, 0.04), (l1 / 2, 0, 0.045), orange),
        ),
        joint(
            "shoulder",
            "revolute",
            "lift",
            "upper_arm",
            (0, 0, 1),
            lim["shoulder"].lower,
            lim["shoulder"].upper,
            lim["shoulder"].max_velocity,
            drives.shoulder.max_effort,
        ),
        link(
            "forearm",
            _pose((l1, 0, 0), rel="upper_arm"),
            1.5,
            _box("forearm", (l2, 0.05, 0.04), (l2 / 2, 0, 0.1), white),
        ),
        joint(
            "elbow",
            "revolute",
            "upper_arm",
            "forearm",
            (0, 0, 1),
            lim["elbow"].lower,
            lim["elbow"].upper,
            lim["elbow"].max_velocity,
            drives.elbow.max_effort,
        ),
        link(
            "tool",
            _pose((l2, 0, 0), rel="forearm"),
            0.6,
            _box("palm", tuple(2 * h for h in shape.palm_half), (shape.palm_centre[0], 0, shape.palm_centre[1]), dark),
        ),
        joint(
            "wrist",
            "revolute",
            "forearm",
            "tool",
            (0, 0, 1),
            lim["wrist"].lower,
            lim["wrist"].upper,
            lim["wrist"].max_velocity,
            drives.wrist.max_effort,
        ),
    ]
    for side, sign in (("l", 1), ("r", -1)):
        parts.append(
            link(
                f"finger_{side}_link",
                _pose((lt, 0, 0), rel="tool"),
                0.1,
                _box(
                    f"finger_{side}",
                    tuple(2 * h for h in shape.finger_half),
                    (shape.finger_centre - lt, sign * shape.finger_half[1], 0),
                    (0.15, 0.15, 0.15),
                ),
            )
        )
        parts.append(
            joint(
                f"finger_{side}",
                "prismatic",
                "tool",
                f"finger_{side}_link",
                (0, sign, 0),
                0,
                half,
                0.5,
                robot.gripper.max_force,
            )
        )
    arm = ("rail_x", "lift_z", "shoulder", "elbow", "wrist")
    gains = {"rail_x": 3000, "lift_z": 3000, "shoulder": 500, "elbow": 300, "wrist": 100}
    jtc = "".join(
        f"<joint_name>{n}</joint_name><position_p_gain>{gains[n]}</position_p_gain>"
        f"<position_d_gain>{gains[n] / 10:.6g}</position_d_gain><position_i_gain>0</position_i_gain>"
        for n in arm
    )
    parts.append(
        f'<plugin filename="gz-sim-joint-trajectory-controller-system" name="gz::sim::systems::JointTrajectoryController">'
        f"<topic>{ARM_JOINT_TOPIC}</topic>{jtc}</plugin>"
    )
    for side in ("l", "r"):
        parts.append(
            '<plugin filename="gz-sim-joint-position-controller-system" name="gz::sim::systems::JointPositionController">'
            f"<joint_name>finger_{side}</joint_name><topic>/model/{ROBOT}/finger_{side}/cmd_pos</topic>"
            "<p_gain>200</p_gain><d_gain>5</d_gain></plugin>"
        )
    names = "".join(f"<joint_name>{n}</joint_name>" for n in (*arm, "finger_l", "finger_r"))
    parts.append(
        '<plugin filename="gz-sim-joint-state-publisher-system" name="gz::sim::systems::JointStatePublisher">'
        f"<topic>{JOINT_STATE_TOPIC}</topic>{names}</plugin>"
    )
    parts.append("</model>")
    return "".join(parts)


def bridge_config(store: Store) -> list[dict[str, str]]:
    """ros_gz_bridge entries (ROS names relative, so a robot namespace applies)."""

    def entry(ros: str, gz: str, ros_type: str, gz_type: str, direction: str) -> dict[str, str]:
        return {
            "ros_topic_name": ros,
            "gz_topic_name": gz,
            "ros_type_name": ros_type,
            "gz_type_name": gz_type,
            "direction": direction,
        }

    out = [
        entry("/clock", "/clock", "rosgraph_msgs/msg/Clock", "gz.msgs.Clock", "GZ_TO_ROS"),
        entry(
            "arm_controller/joint_trajectory",
            ARM_JOINT_TOPIC,
            "trajectory_msgs/msg/JointTrajectory",
            "gz.msgs.JointTrajectory",
            "ROS_TO_GZ",
        ),
        entry("gz/joint_states", JOINT_STATE_TOPIC, "sensor_msgs/msg/JointState", "gz.msgs.Model", "GZ_TO_ROS"),
    ]
    for side in ("l", "r"):
        out.append(
            entry(
                f"gz/finger_{side}/cmd_pos",
                f"/model/{ROBOT}/finger_{side}/cmd_pos",
                "std_msgs/msg/Float64",
                "gz.msgs.Double",
                "ROS_TO_GZ",
            )
        )
    for cam in store.cameras:
        out.append(
            entry(
                f"cameras/{cam.id}/image_raw",
                f"/cameras/{cam.id}/image_raw",
                "sensor_msgs/msg/Image",
                "gz.msgs.Image",
                "GZ_TO_ROS",
            )
        )
        out.append(
            entry(
                f"cameras/{cam.id}/camera_info",
                f"/cameras/{cam.id}/camera_info",
                "sensor_msgs/msg/CameraInfo",
                "gz.msgs.CameraInfo",
                "GZ_TO_ROS",
            )
        )
    return out


def write_world(store: Store, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.sdf`` and ``<stem>_bridge.yaml`` under out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sdf = out_dir / f"{stem}.sdf"
    bridge = out_dir / f"{stem}_bridge.yaml"
    sdf.write_text(world_sdf(store))
    header = f"# ros_gz_bridge config for {escape(store.name)}: generated by `restock gazebo-world`; do not edit.\n"
    bridge.write_text(header + yaml.safe_dump(bridge_config(store), sort_keys=False))
    return sdf, bridge


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="restock gazebo-world", description="Write a store's Gazebo SDF world and bridge config."
    )
    ap.add_argument("--store", default="corner_store.yaml", help="store description (path or name under config/stores)")
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--no-mjcf", action="store_true", help="skip the MuJoCo model (<store>.mjcf.xml)")
    args = ap.parse_args(argv)
    path = Path(args.store) if "/" in args.store else store_file(args.store)
    try:
        store = load_store(path)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sdf, bridge = write_world(store, args.out, path.stem)
    written = [sdf, bridge]
    if not args.no_mjcf:
        from restock.sim.mjcf import build_mjcf

        mjcf = args.out / f"{path.stem}.mjcf.xml"
        mjcf.write_text(build_mjcf(store)[0] + "\n")
        written.append(mjcf)
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
