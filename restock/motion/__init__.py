"""What moves: the arm's pure logic (no rclpy).

- kinematics: forward/inverse kinematics of the rail SCARA and the task poses (whether a store is
  reachable at all is restock.store.serviceable's check);
- trajectory: ruckig jerk-limited segments sampled for a JointTrajectory;
- envelope: the safety envelope every command passes (limits, keep-out boxes, NaN/inf);
- moves: collision-aware moves through the corridor (joint moves, straight approaches);
- executor: the task state machine (pick, verify, place, retry, hand off, park); grip: what the
  gripper's opening says (held, let go); commands: what the executor and the follower ask of the node;
- taskstore: SQLite persistence of queued, active and parked tasks;
- teleop: following an operator's end-effector targets;
- verify: the camera check after loading a lane;
- gating: who may move the arm (e-stop, joint_states watchdog, operator, wake-up of a racing sim);
- arm_settings: the arm controller node's parameters, typed, and the executor's settings from them.

Nothing here imports the simulator: the executor driven by the embedded world in one process is
restock.sim.armloop.
"""
