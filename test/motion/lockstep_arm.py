"""Graph-test parameters: the simulator and the arm controller in lockstep, as a store day runs them.

Sim time waits for the arm, so a trajectory never lands late and the sim's servos never catch up
at full speed (a yank that shakes a container out of the fingers on contact physics, however the
controller reads it)."""

from __future__ import annotations


def lockstep_params(sim: dict, state_dir: str) -> dict[str, dict]:
    """ros_graph params for "sim" (``sim`` plus lockstep) and "arm_controller"."""
    arm = {
        "state_dir": state_dir,
        "lockstep": True,
        "wake_above_rate": 0.0,
        "start_allowance_wall_s": 0.0,
        "joint_states_timeout_s": 10.0,
        "trajectory_start_delay_s": 0.0,
    }
    lockstep = {"lockstep": True, "lockstep_participants": ["arm_controller"], "real_time_factor": 0.0}
    return {"sim": {**sim, **lockstep}, "arm_controller": arm}
