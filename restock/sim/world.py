"""The simulated store as a plain Python object: MuJoCo model, customers, staff, events. No rclpy.

Used by the sim node (restock.nodes.sim), the vision dataset generator and the tests::

    from restock.sim.world import World
    w = World(load_store("config/stores/corner_store.yaml"), seed=1)
    w.fill_lanes(1.0)                         # every lane full (the default start is full)
    w.set_gripper(0.1)
    w.set_joint_targets({"rail_x": 0.5, "lift_z": 0.2, "shoulder": 0.3, "elbow": 0.5, "wrist": 0.0})
    w.step(2.0)                               # sim seconds; idle time is fast-forwarded
    rgb = w.render("cam_left")                # (H, W, 3) uint8, the camera's own resolution
    seg = w.render_segmentation("cam_left")   # (H, W) int32 object ids, -1 = nothing
    info = w.object_info(int(seg[240, 320]))  # ObjectInfo(kind="container", sku="cola_500", lane_id=..., slot=0)

Time: ``w.time`` is sim seconds since the Unix epoch (float); the store's local time is UTC.
``World(..., start_time=...)`` takes epoch seconds or an ISO string (default
:data:`DEFAULT_START`, a Monday 06:00). :meth:`World.step` advances it; it is the clock.

Robot (the contract the arm controller codes against; see restock.store.description.Robot):
joints ``rail_x`` (prismatic along x, carriage at y = robot.rail_y), ``lift_z`` (prismatic z; the
arm plane is at z = base_height + lift_z), ``shoulder``, ``elbow``, ``wrist`` (revolute about +z;
shoulder = 0 points along +x); grasp centre at
``(rail_x + l1 c1 + l2 c12 + lt c123, rail_y + l1 s1 + l2 s12 + lt s123, base_height + lift_z)``,
tool yaw q1+q2+q3, parallel fingers closing across the tool direction; ``gripper`` = opening (m).
The joints are ideal position servos: they follow the commanded trajectory exactly (clamped to
the joint limits), which is how a well-tuned industrial controller looks at this time scale. An
arm link touching an obstruction stops the arm where it was (event ``arm_collision``) and drops
the running trajectory, as a real controller's collision detection would.

Grasping: closing the fingers with the grasp centre on a graspable item (the front container of
a back-room stock location, or the backmost item of a lane) makes the fingers stop at the item's
width and the item ride with the tool; with probability ``failed_grasp_probability`` it slips
(event ``grasp_slipped``: the item stays, the fingers close fully, so a grasp check on the
opening sees it). Opening the fingers releases the item: into a lane when it is at that lane's
loading point (it slides forward behind the others, gravity feed), back into stock at a stock
pick point, otherwise it falls and is lost (event ``dropped``).

Lanes are gravity-fed columns kept as bookkeeping (no free-jointed containers): index 0 is the
front a customer sees. Customers take the front container; a sale of a SKU whose lanes are all
empty at the front is a lost sale. Staff refill back-room stock on ``store.stock.refill``.

Public API (stable; the vision dataset generator and the sim node build on it):

- construction: ``World(store, seed=0, start_time=DEFAULT_START, fill=1.0, render=True)``;
  ``store``, ``model`` (mujoco.MjModel), ``data`` (mujoco.MjData), ``time``, ``rng``.
- time: ``step(dt)``; ``run_until(t)``.
- robot: ``joint_positions() -> dict`` (rail_x, lift_z, shoulder, elbow, wrist, gripper),
  ``joint_velocities() -> dict``, ``set_joint_targets(dict)`` (hold these positions now),
  ``set_trajectory(JointPath)`` / ``stop_trajectory()`` (see restock.sim.trajectory),
  ``trajectory_active``, ``set_gripper(opening)``, ``teleport(dict)`` (set joints instantly,
  for tests and datasets), ``grasp_centre() -> (x, y, z, yaw)``, ``held() -> ObjectInfo | None``,
  ``failed_grasp_probability`` (attribute, 0..1).
- store state: ``lane_contents(lane_id) -> list[ObjectInfo]`` front first, ``lane_count(lane_id)``
  (containers of any SKU), ``lane_counts() -> dict``, ``stock_quantity(location_id)``,
  ``fill_lanes(fraction | dict lane_id -> count)``, ``set_lane(lane_id, items)`` (items: SKU ids,
  ``"unfamiliar"`` or ``"obstruction"``, front first), ``take_front(lane_id, n=1)`` (a person takes
  items without a sale: staff, an operator), ``remove(object_id)``.
- customers: ``set_demand(generator)`` (restock.demand.generator.DemandGenerator, sampled with this
  world's seed) or ``set_sales_log(sales)`` (a list of restock.demand.generator.Sale, e.g. from
  restock.demand.saleslog.read_sales_log), ``customer_buy(sku, quantity=1)``; ``sales`` and
  ``lost_sales`` (dict sku -> containers), ``events`` (list of SimEvent, newest last).
- events: ``put_unfamiliar(lane_id, slot=None)`` (None: at the back; 0: the front) -> object id,
  ``put_obstruction(lane_id=None, at=None)`` (in a lane's column, or a box in the arm's corridor at
  store-frame point ``at``) -> object id, ``show_hand(camera_id, lane_id=None, duration_s=None)``
  -> object id, ``hide_hand(object_id)``, ``schedule(t, callable)`` (run at sim time t),
  ``random_events(rate_per_hour, kinds=...)`` (seeded).
- rendering: ``render(camera_id, width=None, height=None) -> (H, W, 3) uint8``,
  ``render_segmentation(camera_id, ...) -> (H, W) int32`` object ids (-1: background),
  ``object_info(object_id) -> ObjectInfo`` (valid until the world changes),
  ``boxes(camera_id, min_pixels=20) -> list[(ObjectInfo, (x1, y1, x2, y2), pixels)]`` from one
  segmentation render.
- domain randomisation: ``randomize_appearance(rng, lighting=True, colors=True, camera_jitter_m=0.02,
  camera_jitter_deg=2.0)`` and ``reset_appearance()``; ``camera_name(camera_id)`` is the MuJoCo
  camera's name for anyone who wants to reach into ``model`` directly.
- evaluation: ``ground_truth() -> restock.records.SimGroundTruth``.

Rendering uses MUJOCO_GL=egl (set here if unset), shadows and reflections off.
"""
