"""The arm controller's settings: its parameters declared once, typed (restock.params.setting).

The node declares them from this class (``PARAMS``) and reads a checked instance; the pure
pieces it drives get their own settings from it (:meth:`ArmControllerSettings.executor`).
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.motion.executor import ExecutorSettings
from restock.params import NodeSettings, setting


@dataclass(frozen=True)
class ArmControllerSettings(NodeSettings):
    control_rate_hz: float = setting(100.0, "Control loop rate (tasks, teleop, watchdog)", min=10.0, max=1000.0)
    speed_scale: float = setting(1.0, "Autonomous speed as a fraction of the joint limits", min=0.05, max=1.0)
    teleop_speed_scale: float = setting(0.5, "Teleop speed as a fraction of the joint limits", min=0.05, max=1.0)
    teleop_target_timeout_s: float = setting(0.25, "No operator target this long: hold", min=0.02, max=5.0)
    joint_states_timeout_s: float = setting(0.5, "No joint_states this long: hold and stop work", min=0.05, max=10.0)
    joint_states_wall_timeout_s: float = setting(
        0.0,
        "With sim time: joint_states are stale only when also this many wall seconds old (a sim racing at hundreds of times real time crosses joint_states_timeout_s between two messages); 0: sim time only",
        min=0.0,
        max=10.0,
    )
    tracking_tolerance: float = setting(0.05, "Measured vs. commanded joints (rad or m) before blocked", min=0.001)
    trajectory_start_delay_s: float = setting(
        0.05,
        "Stamp each autonomous trajectory this far in the future (the controller holds until then), so its delivery latency does not shift the timeline the arm is tracked against",
        min=0.0,
        max=5.0,
    )
    tracking_lag_allowance_s: float = setting(
        0.3, "The measured joints may trail the commanded timeline by this much and still be on track", min=0.0, max=5.0
    )
    start_allowance_s: float = setting(
        2.0,
        "An arm still at a trajectory's start this long after its stamp is not yet blocked (late delivery)",
        min=0.0,
        max=30.0,
    )
    start_allowance_wall_s: float = setting(
        0.0,
        "With sim time: an arm still at a trajectory's start is not blocked while the trajectory is younger than this in wall time either (a simulator may run many sim seconds before it reads it); 0: off",
        min=0.0,
        max=10.0,
    )
    wake_above_rate: float = setting(
        0.0,
        "With a simulator that races while the arm is idle: start no step while sim time runs faster than this many sim seconds per wall second (send it an empty trajectory to slow it); 0: off",
        min=0.0,
        max=10000.0,
    )
    max_grasp_retries: int = setting(2, "Grasp retries before a failed-grasp handoff", min=0, max=10)
    body_margin: float = setting(
        0.0,
        "Extra distance the arm's parts keep from the case and the rack in the keep-out check, on top of their"
        " real sizes (m)",
        min=0.0,
        max=0.05,
    )
    state_dir: str = setting("var/arm_controller", "Where the task database (tasks.sqlite) lives")
    placement_check_s: float = setting(20.0, "A lane seen empty must be seen stocked this long after loading", min=1.0)
    wrist_camera: bool = setting(
        True,
        "Look with the wrist camera: at the lane's back before each container (a full lane gets none) and at the held container (a wrong SKU is never placed)",
    )
    look_timeout_s: float = setting(
        5.0, "A wrist frame not come this long (sim s) after it was asked for: go on without it", min=0.1, max=60.0
    )

    def executor(self, source: str) -> ExecutorSettings:
        """The task executor's settings (the rest keep ExecutorSettings' defaults)."""
        return ExecutorSettings(
            max_grasp_retries=self.max_grasp_retries,
            tracking_tolerance=self.tracking_tolerance,
            start_delay_s=self.trajectory_start_delay_s,
            lag_allowance_s=self.tracking_lag_allowance_s,
            start_allowance_s=self.start_allowance_s,
            start_allowance_wall_s=self.start_allowance_wall_s,
            source=source,
            wrist_camera=self.wrist_camera,
            look_timeout_s=self.look_timeout_s,
        )
