"""The MuJoCo model (MJCF) of a store, built from its description. No rclpy.

What is in it:

- static bodies ``case`` (walls, top, plinth), ``shelves`` (tilted boards, lane dividers, price
  strips) and ``stock_rack`` (the back-room rack's boards);
- the robot: ``carriage`` (slide ``rail_x`` at y = rail_y) > ``lift`` (slide ``lift_z``; arm plane
  at z = base_height + lift_z) > ``upper_arm`` (hinge ``shoulder``) > ``forearm`` (``elbow``) >
  ``tool`` (``wrist``) > fingers ``finger_l``/``finger_r`` (slides ``finger_l``/``finger_r``
  across the tool direction, each at opening/2), shaped by :class:`~restock.store.arm_shape.ArmShape`;
  its geoms collide with the static bodies and obstructions, not with containers;
- pools of mocap bodies the world places by bookkeeping: ``item_<sku>_<n>`` per SKU (enough for
  every lane of that SKU plus spares and stock fronts), ``unfamiliar_<n>``, ``obstruction_<n>``,
  ``hand_<n>``; unused ones sit below the floor in geom group 5, which renders hide;
- one camera per store camera, named by its id, posed by :class:`~restock.store.camera.CameraModel`,
  and the robot's wrist camera on ``tool`` (``robot.wrist_camera.id``, looking along the tool axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from restock.store.arm_shape import ArmShape
from restock.store.description import DIVIDER_THICKNESS, Sku, Store
from restock.store.fixtures import Solid, case_frame, case_top_z, rail, stock_rack

HIDDEN_GROUP = 5  # geom group of parked pool bodies: excluded from renders
PARK_Z = -5.0
SPARE_PER_SKU = 3
N_UNFAMILIAR = 6
N_OBSTRUCTIONS = 4
ARM_CONTYPE = 2  # arm geoms collide with the fixtures and obstructions (conaffinity 2), not with containers
SKIN = (0.87, 0.68, 0.55)


@dataclass
class Layout:
    """Names of the pool bodies the world drives, in the order they appear in the model."""

    items: dict[str, list[str]] = field(default_factory=dict)  # sku -> body names
    unfamiliar: list[str] = field(default_factory=list)
    obstructions: list[str] = field(default_factory=list)
    hands: list[str] = field(default_factory=list)


def _f(*v: float) -> str:
    return " ".join(f"{x:.5g}" for x in v)


def _rgba(c: tuple[float, ...] | list[float], a: float = 1.0) -> str:
    return _f(*c[:3], a)


def _box(solid: Solid, rgba: str, attrs: str) -> str:
    return f'<geom name="{solid.name}" type="box" size="{_f(*solid.half)}" pos="{_f(*solid.centre)}" rgba="{rgba}" {attrs}/>'


def container_geoms(sku: Sku, name: str, group: int = HIDDEN_GROUP) -> list[str]:
    """Geoms of one container of ``sku``, centred on its body (the centre of its bounding box)."""
    h = sku.height
    col, lab = _rgba(sku.color), _rgba(sku.label_color)
    common = f'contype="0" conaffinity="0" group="{group}"'
    out: list[str] = []
    if sku.kind == "carton":
        w, d = sku.width or 0.07, sku.depth or 0.07
        out.append(
            f'<geom name="{name}_body" type="box" size="{_f(w / 2, d / 2, h * 0.4)}" pos="0 0 {-h * 0.1:.5g}" rgba="{col}" {common}/>'
        )
        out.append(
            f'<geom name="{name}_top" type="box" size="{_f(w / 2 * 0.9, d / 2 * 0.25, h * 0.1)}" pos="0 0 {h * 0.4:.5g}" rgba="{col}" {common}/>'
        )
        if sku.label_pattern != "plain":
            out.append(
                f'<geom name="{name}_label" type="box" size="{_f(w / 2 + 0.001, d / 2 + 0.001, h * 0.12)}" pos="0 0 {-h * 0.05:.5g}" rgba="{lab}" {common}/>'
            )
        else:
            out.append(
                f'<geom name="{name}_label" type="box" size="{_f(w / 2 * 0.6, d / 2 + 0.001, h * 0.08)}" pos="0 0 0" rgba="{lab}" {common}/>'
            )
        return out
    r = (sku.diameter or 0.06) / 2
    if sku.kind == "bottle":
        out.append(
            f'<geom name="{name}_body" type="cylinder" size="{_f(r, h * 0.34)}" pos="0 0 {-h * 0.16:.5g}" rgba="{_rgba(sku.color, 1)}" {common}/>'
        )
        out.append(
            f'<geom name="{name}_neck" type="cylinder" size="{_f(r * 0.45, h * 0.16)}" pos="0 0 {h * 0.34:.5g}" rgba="{_rgba(sku.color, 1)}" {common}/>'
        )
        out.append(
            f'<geom name="{name}_cap" type="cylinder" size="{_f(r * 0.5, h * 0.03)}" pos="0 0 {h * 0.47:.5g}" rgba="{lab}" {common}/>'
        )
        label_z, label_h = -h * 0.12, h * 0.13
    else:  # can
        out.append(
            f'<geom name="{name}_body" type="cylinder" size="{_f(r, h * 0.47)}" pos="0 0 0" rgba="{col}" {common}/>'
        )
        out.append(
            f'<geom name="{name}_lid" type="cylinder" size="{_f(r * 0.9, h * 0.03)}" pos="0 0 {h * 0.47:.5g}" rgba="0.75 0.75 0.78 1" {common}/>'
        )
        label_z, label_h = 0.0, h * 0.16
    if sku.label_pattern == "stripes":
        out.append(
            f'<geom name="{name}_label" type="cylinder" size="{_f(r + 0.001, label_h * 0.35)}" pos="0 0 {label_z + label_h * 0.6:.5g}" rgba="{lab}" {common}/>'
        )
        out.append(
            f'<geom name="{name}_label2" type="cylinder" size="{_f(r + 0.001, label_h * 0.35)}" pos="0 0 {label_z - label_h * 0.6:.5g}" rgba="{lab}" {common}/>'
        )
    elif sku.label_pattern == "dots":
        out.append(
            f'<geom name="{name}_label" type="cylinder" size="{_f(r + 0.001, label_h)}" pos="0 0 {label_z:.5g}" rgba="{lab}" {common}/>'
        )
        out.append(
            f'<geom name="{name}_dot" type="sphere" size="{r * 0.35:.5g}" pos="0 {r:.5g} {label_z:.5g}" rgba="{col}" {common}/>'
        )
    elif sku.label_pattern == "band":
        out.append(
            f'<geom name="{name}_label" type="cylinder" size="{_f(r + 0.001, label_h)}" pos="0 0 {label_z:.5g}" rgba="{lab}" {common}/>'
        )
    return out


def build_mjcf(store: Store) -> tuple[str, Layout]:
    """The MJCF text of the store and the names of the pool bodies."""
    case, robot = store.case, store.robot
    layout = Layout()
    max_w = max(c.width for c in store.cameras)
    max_h = max(c.height for c in store.cameras)
    depth = max(r.depth for r in case.rows)
    front_y = case.back_y + depth
    top_z = case_top_z(store)
    width = case.x_max - case.x_min
    xmid = (case.x_min + case.x_max) / 2
    L: list[str] = []
    a = L.append
    a(f'<mujoco model="{store.name}">')
    a('<compiler angle="radian" autolimits="true"/>')
    a('<option timestep="0.01" gravity="0 0 -9.81"/>')
    a(f'<visual><global offwidth="{max(max_w, 640)}" offheight="{max(max_h, 480)}"/>')
    a('<quality shadowsize="0" offsamples="0" numslices="12" numstacks="4"/>')
    a('<headlight ambient="0.35 0.35 0.35" diffuse="0.45 0.45 0.45" specular="0.05 0.05 0.05"/></visual>')
    a("<asset>")
    a(
        '<texture name="floor_tex" type="2d" builtin="checker" rgb1="0.55 0.55 0.52" rgb2="0.5 0.5 0.47" width="128" height="128"/>'
    )
    a('<material name="floor_mat" texture="floor_tex" texrepeat="8 8"/>')
    a("</asset>")
    a("<worldbody>")
    a(
        f'<light name="ceiling" pos="{_f(xmid, 1.5, 3.0)}" dir="0 0.3 -1" directional="true" diffuse="0.6 0.6 0.6" castshadow="false"/>'
    )
    a(
        f'<light name="case_light" pos="{_f(xmid, front_y + 0.3, top_z)}" dir="0 -0.5 -1" diffuse="0.4 0.4 0.4" castshadow="false"/>'
    )
    a(
        f'<geom name="floor" type="plane" size="{_f(width + 4, 6, 0.1)}" pos="{_f(xmid, 0.5, 0)}" material="floor_mat" contype="0" conaffinity="0"/>'
    )

    # The case: side walls, top, plinth, back wall is open (the robot loads from behind). The case,
    # the shelves, the rack and the rail are what the arm can hit (conaffinity against its contype).
    s = f'contype="0" conaffinity="{ARM_CONTYPE}"'
    colours = {"case_sign": "0.1 0.35 0.6 1", "case_plinth": "0.25 0.25 0.27 1"}
    a('<body name="case">')
    for solid in case_frame(store):
        a(_box(solid, colours.get(solid.name, "0.85 0.85 0.87 1"), s))
    a("</body>")

    a('<body name="shelves">')
    for row in case.rows:
        tilt = math.radians(row.tilt_deg)
        ymid = case.back_y + row.depth / 2
        zmid = row.height - (row.depth / 2) * math.tan(tilt) - 0.008
        a(
            f'<geom name="board_{row.id}" type="box" size="{_f(width / 2, row.depth / 2 / math.cos(tilt), 0.008)}" pos="{_f(xmid, ymid, zmid)}" euler="{_f(-tilt, 0, 0)}" rgba="0.8 0.8 0.82 1" {s}/>'
        )
        zf = row.height - row.depth * math.tan(tilt)
        a(
            f'<geom name="strip_{row.id}" type="box" size="{_f(width / 2, 0.004, 0.018)}" pos="{_f(xmid, case.back_y + row.depth + 0.004, zf + 0.01)}" rgba="0.95 0.95 0.2 1" {s}/>'
        )
        edges = sorted(
            {round(ln.x - ln.width / 2, 4) for ln in row.lanes} | {round(ln.x + ln.width / 2, 4) for ln in row.lanes}
        )
        for k, x in enumerate(edges):
            a(
                f'<geom name="divider_{row.id}_{k}" type="box" size="{_f(DIVIDER_THICKNESS / 2, row.depth / 2, row.divider_height / 2)}" pos="{_f(x, ymid, row.height - (row.depth / 2) * math.tan(tilt) + row.divider_height / 2)}" euler="{_f(-tilt, 0, 0)}" rgba="0.9 0.9 0.95 0.6" {s}/>'
            )
    a("</body>")

    a('<body name="stock_rack">')
    for solid in stock_rack(store):
        a(_box(solid, "0.5 0.45 0.4 1", s))
    a("</body>")
    a(_box(rail(store), "0.3 0.3 0.32 1", s))

    # The robot. Every arm geom collides with obstructions only (contype 2 against conaffinity 2).
    arm = f'contype="{ARM_CONTYPE}" conaffinity="0"'
    jl = {j.name: j for j in robot.joints}
    l1, l2, lt = robot.upper_arm, robot.forearm, robot.tool_length
    half_open = robot.gripper.max_opening / 2
    shape = ArmShape.of(robot)  # the envelope's body model uses the same sizes
    a(f'<body name="carriage" pos="{_f(0, robot.rail_y, 0)}">')
    a(f'<joint name="rail_x" type="slide" axis="1 0 0" range="{_f(jl["rail_x"].lower, jl["rail_x"].upper)}"/>')
    own = 'contype="0" conaffinity="0"'  # the robot's own carriage and column
    a(f'<geom name="carriage" type="box" size="0.12 0.1 0.05" pos="0 0 0.09" rgba="0.2 0.22 0.25 1" {own} mass="20"/>')
    col_h = robot.base_height + jl["lift_z"].upper + 0.1
    a(
        f'<geom name="column" type="box" size="0.04 0.04 {col_h / 2:.5g}" pos="{_f(-0.08, -0.06, col_h / 2)}" rgba="0.25 0.27 0.3 1" {own}/>'
    )
    a(f'<body name="lift" pos="{_f(0, 0, robot.base_height)}">')
    a(f'<joint name="lift_z" type="slide" axis="0 0 1" range="{_f(jl["lift_z"].lower, jl["lift_z"].upper)}"/>')
    a(
        f'<geom name="lift_block" type="box" size="0.06 0.06 0.03" pos="-0.04 -0.03 0.045" rgba="0.9 0.45 0.1 1" {arm} mass="3"/>'
    )
    a('<body name="upper_arm">')
    a(f'<joint name="shoulder" type="hinge" axis="0 0 1" range="{_f(jl["shoulder"].lower, jl["shoulder"].upper)}"/>')
    a(
        f'<geom name="upper_arm" type="capsule" fromto="{_f(0, 0, shape.upper_arm_z, l1, 0, shape.upper_arm_z)}" size="{shape.upper_arm_radius:.5g}" rgba="0.9 0.45 0.1 1" {arm} mass="2"/>'
    )
    a(f'<body name="forearm" pos="{_f(l1, 0, 0)}">')
    a(f'<joint name="elbow" type="hinge" axis="0 0 1" range="{_f(jl["elbow"].lower, jl["elbow"].upper)}"/>')
    a(
        f'<geom name="forearm" type="capsule" fromto="{_f(0, 0, shape.forearm_z, l2, 0, shape.forearm_z)}" size="{shape.forearm_radius:.5g}" rgba="0.92 0.92 0.92 1" {arm} mass="1.5"/>'
    )
    a(f'<body name="tool" pos="{_f(l2, 0, 0)}">')
    a(f'<joint name="wrist" type="hinge" axis="0 0 1" range="{_f(jl["wrist"].lower, jl["wrist"].upper)}"/>')
    a(
        f'<geom name="wrist_shaft" type="cylinder" size="{_f(shape.wrist_radius, (shape.wrist_z[1] - shape.wrist_z[0]) / 2)}" pos="{_f(0, 0, sum(shape.wrist_z) / 2)}" rgba="0.3 0.3 0.3 1" {arm} mass="0.3"/>'
    )
    a(
        f'<geom name="palm" type="box" size="{_f(*shape.palm_half)}" pos="{_f(shape.palm_centre[0], 0, shape.palm_centre[1])}" rgba="0.3 0.3 0.3 1" {arm} mass="0.3"/>'
    )
    # The wrist camera looks along the tool axis between the open fingers (MuJoCo cameras look along -z).
    wc = robot.wrist_camera
    a(f'<camera name="{wc.id}" pos="{_f(-wc.back, 0, wc.up)}" xyaxes="0 -1 0 0 0 1" fovy="{wc.fov_y_deg:.5g}"/>')
    for side, sign in (("l", 1), ("r", -1)):
        a(f'<body name="finger_{side}" pos="{_f(lt, 0, 0)}">')
        a(f'<joint name="finger_{side}" type="slide" axis="0 {sign} 0" range="{_f(0, half_open)}"/>')
        # A plate along the tool, its inner face at the joint's position: the opening is the gap between them.
        a(
            f'<geom name="finger_{side}" type="box" size="{_f(*shape.finger_half)}" pos="{_f(shape.finger_centre - lt, sign * shape.finger_half[1], 0)}" rgba="0.15 0.15 0.15 1" {arm} mass="0.1"/>'
        )
        a("</body>")
    a("</body></body></body></body></body>")

    # Pools of mocap bodies placed by the world's bookkeeping.
    need: dict[str, int] = {sku: SPARE_PER_SKU for sku in store.skus}
    for lv in store.lanes:
        need[lv.lane.sku] += lv.lane.capacity
    for loc in store.stock.locations:
        need[loc.sku] += 1
    for sku_id in sorted(store.skus):
        sku = store.skus[sku_id]
        names = []
        for n in range(need[sku_id]):
            name = f"item_{sku_id}_{n}"
            names.append(name)
            a(f'<body name="{name}" mocap="true" pos="{_f(0, 0, PARK_Z)}">')
            L.extend(container_geoms(sku, name))
            a("</body>")
        layout.items[sku_id] = names
    hid = f'contype="0" conaffinity="0" group="{HIDDEN_GROUP}"'
    for n in range(N_UNFAMILIAR):
        name = f"unfamiliar_{n}"
        layout.unfamiliar.append(name)
        a(f'<body name="{name}" mocap="true" pos="{_f(0, 0, PARK_Z)}">')
        a(f'<geom name="{name}_a" type="box" size="0.03 0.03 0.05" rgba="0.6 0.2 0.7 1" {hid}/>')
        a(f'<geom name="{name}_b" type="sphere" size="0.025" pos="0 0 0.05" rgba="0.9 0.9 0.2 1" {hid}/>')
        a("</body>")
    obst = f'contype="0" conaffinity="{ARM_CONTYPE}" group="{HIDDEN_GROUP}"'
    for n in range(N_OBSTRUCTIONS):
        name = f"obstruction_{n}"
        layout.obstructions.append(name)
        a(f'<body name="{name}" mocap="true" pos="{_f(0, 0, PARK_Z)}">')
        a(f'<geom name="{name}_box" type="box" size="0.06 0.05 0.04" rgba="0.62 0.47 0.3 1" {obst}/>')
        a(
            f'<geom name="{name}_tape" type="box" size="0.061 0.012 0.041" rgba="0.85 0.8 0.6 1" contype="0" conaffinity="0" group="{HIDDEN_GROUP}"/>'
        )
        a("</body>")
    for n in range(max(2, len(store.cameras))):
        name = f"hand_{n}"
        layout.hands.append(name)
        a(f'<body name="{name}" mocap="true" pos="{_f(0, 0, PARK_Z)}">')
        a(f'<geom name="{name}_palm" type="ellipsoid" size="0.045 0.02 0.055" rgba="{_rgba(SKIN)}" {hid}/>')
        for k, dx in enumerate((-0.03, -0.01, 0.01, 0.03)):
            a(
                f'<geom name="{name}_finger{k}" type="capsule" fromto="{_f(dx, -0.01, 0.05, dx * 1.1, -0.04, 0.08)}" size="0.009" rgba="{_rgba(SKIN)}" {hid}/>'
            )
        a(
            f'<geom name="{name}_arm" type="capsule" fromto="{_f(0, 0.02, -0.04, 0, 0.38, -0.2)}" size="0.035" rgba="{_rgba(SKIN)}" {hid}/>'
        )
        a(
            f'<geom name="{name}_sleeve" type="capsule" fromto="{_f(0, 0.25, -0.14, 0, 0.5, -0.28)}" size="0.05" rgba="0.2 0.3 0.5 1" {hid}/>'
        )
        a("</body>")

    for cam in store.cameras:
        m = cam.model
        a(
            f'<camera name="{cam.id}" pos="{_f(*m.position)}" xyaxes="{_f(*m.mujoco_xyaxes())}" fovy="{cam.fov_y_deg:.5g}"/>'
        )
    a("</worldbody>")
    a("</mujoco>")
    return "\n".join(L), layout
