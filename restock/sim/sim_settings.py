"""The simulator node's settings: its parameters declared once, typed (restock.params.setting).

The sim node (nodes/sim.py) declares them from this class and reads a checked instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.params import NodeSettings, setting
from restock.sim.world import DEFAULT_START


@dataclass(frozen=True)
class SimSettings(NodeSettings):
    seed: int = setting(0, "Seed of everything random in the simulation (customers, events, grasps)", min=0)
    start_time: str = setting(DEFAULT_START, "Sim start, ISO 8601 (UTC, the store's local time) or epoch s")
    state_path: str = setting(
        "",
        "SQLite file of checkpoints: a simulator restarted on it resumes the store where it was "
        "(empty: none; a new run must start on a fresh file)",
    )
    real_time_factor: float = setting(1.0, "Sim seconds per wall second; 0 runs as fast as possible", min=0, max=10000)
    active_real_time_factor: float = setting(
        20.0,
        "Cap on real_time_factor while the arm moves or was commanded within active_hold_s, so the "
        "controllers stay in the loop when the sim races (0: no cap)",
        min=0,
        max=10000,
    )
    active_hold_s: float = setting(5.0, "Sim seconds after a command that the active cap still holds", min=0)
    camera_rate_hz: float = setting(0.0, "Render every camera at this sim rate; 0: each camera's rate_hz", min=0)
    joint_state_rate_hz: float = setting(50.0, "joint_states rate in sim time", min=1, max=1000)
    idle_joint_state_rate_hz: float = setting(
        0.0,
        "joint_states rate (sim time) while the arm is at rest and uncommanded (nothing changes); "
        "a command brings joint_state_rate_hz back at once. 0: always joint_state_rate_hz. Every "
        "joint_states also carries a /clock to every node, so racing through idle hours is cheaper",
        min=0,
        max=1000,
    )
    ground_truth_period_s: float = setting(1.0, "sim/ground_truth period in sim seconds", min=0.01)
    customers: str = setting(
        "demand", "Who buys: a demand model, a sales log, or nobody", choices=("demand", "sales_log", "none")
    )
    containers_per_day: float = setting(0.0, "Demand model's average daily total; 0: its default", min=0)
    sales_log: str = setting("", "CSV sales log to replay when customers is sales_log")
    initial_fill: float = setting(1.0, "Fraction of each lane's capacity at the start", min=0, max=1)
    pos_feed: bool = setting(True, "Publish each sale on pos/sales, as the store's point-of-sale system would")
    grip_force_scale: float = setting(1.0, "Fault: the gripper squeezes with this share of its force", min=0.01, max=10)
    friction_scale: float = setting(1.0, "Fault: every contact's friction times this", min=0.01, max=10)
    faults_per_hour: float = setting(
        0.0, "Seeded physical faults: a stock container nudged, a lane's back container tipped over", min=0
    )
    random_events_per_hour: float = setting(0.0, "Seeded unfamiliar items, obstructions and hands", min=0)
    mixups_per_hour: float = setting(
        0.0, "Seeded stock mix-ups: another SKU as wide put at the front of a back-room location", min=0
    )
    staff_response_s: float = setting(1800.0, "Staff bring back-room stock this long after an alert (s)", min=0)
    staff_topup: int = setting(0, "Containers staff bring for an alert (0: up to the capacity)", min=0)
    lockstep_participants: tuple[str, ...] = setting(
        (),
        "With lockstep: the nodes (by name) whose answer every step waits for; the first step waits until each has answered once",
    )
    lockstep_timeout_s: float = setting(
        5.0,
        "With lockstep: a participant that has not answered a step within this many wall seconds is left out until it answers again (logged; the run is then not reproducible)",
        min=0.1,
        max=600.0,
    )
    scripted_events: str = setting(
        "",
        "Events at given times, ';'-separated 'WHEN KIND ARGS' (see restock.sim.events), e.g. '+60 unfamiliar r1_l03 0'",
    )
