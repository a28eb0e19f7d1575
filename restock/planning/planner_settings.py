"""The planner node's settings: its parameters declared once, typed (restock.params.setting).

The node declares them from this class and reads a checked instance; the planner core's own
configuration is built from it (:meth:`PlannerSettings.core`). A default the core also has is
taken from the core's config class, so each is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.params import NodeSettings, setting
from restock.planning.backroom import AlertConfig
from restock.planning.core import CoreConfig
from restock.planning.planner import PlannerConfig


@dataclass(frozen=True)
class PlannerSettings(NodeSettings):
    policy: str = setting(
        CoreConfig.policy,
        "learned: minimise expected lost sales; reactive: the threshold baseline",
        choices=("learned", "reactive"),
    )
    reactive_threshold: float = setting(
        CoreConfig.reactive_threshold, "Reactive policy: refill a lane at this fill or below", min=0.0, max=1.0
    )
    database_path: str = setting("var/planner.db", "SQLite file of learned demand, lanes and tasks (created)")
    sales_log: str = setting("", "Historical sales log (CSV) to learn from at start; empty: none")
    fleet_prior: str = setting(
        "", "Fleet prior (JSON, restock fleet-prior) a new store's demand model starts from; empty: none"
    )
    horizon_s: float = setting(
        PlannerConfig.horizon_s,
        "Planning horizon: expected lost sales are minimised over it (s)",
        min=600.0,
        max=86400.0,
    )
    replan_period_s: float = setting(5.0, "Re-plan at least this often (s, ROS clock)", min=0.2, max=600.0)
    forecast_step_s: float = setting(
        PlannerConfig.step_s, "Resolution of the demand forecast over the horizon (s)", min=60.0, max=3600.0
    )
    handling_s: float = setting(
        CoreConfig.handling_s,
        "Initial robot seconds per container besides rail travel (then measured)",
        min=1.0,
        max=600.0,
    )
    setup_s: float = setting(CoreConfig.setup_s, "Robot seconds to start a task", min=0.0, max=120.0)
    max_outstanding: int = setting(CoreConfig.max_outstanding, "Tasks handed to the arm at a time", min=1, max=8)
    task_timeout_s: float = setting(
        CoreConfig.task_timeout_s, "A task with no result after this long is given up (s)", min=30.0, max=86400.0
    )
    retry_backoff_s: float = setting(
        CoreConfig.retry_backoff_s, "A lane whose task failed or was rejected waits this long (s)", min=0.0, max=86400.0
    )
    min_benefit: float = setting(
        PlannerConfig.min_benefit, "Expected lost sales a task must avoid to be planned", min=0.0, max=10.0
    )
    topup_below: float = setting(
        PlannerConfig.topup_below, "With spare robot time, top up lanes below this fill", min=0.0, max=1.0
    )
    batch_fraction: float = setting(
        PlannerConfig.batch_fraction,
        "A lane with less room than this fraction waits for a fuller trip",
        min=0.0,
        max=1.0,
    )
    urgent_s: float = setting(
        PlannerConfig.urgent_s, "...unless its SKU or lane runs out within this (s)", min=0.0, max=86400.0
    )
    urgent_fraction: float = setting(
        PlannerConfig.urgent_fraction,
        "...and has at least this fraction of room, or its SKU's demand outruns the robot",
        min=0.0,
        max=1.0,
    )
    saturated_share: float = setting(
        PlannerConfig.saturated_share,
        "No lane waits when the coming demand needs this share of the robot's time (0: off)",
        min=0.0,
        max=10.0,
    )
    idle_fill: float = setting(
        PlannerConfig.idle_fill,
        "With nothing planned, fill a waiting lane with at least this fraction free rather than idle (0: off)",
        min=0.0,
        max=1.0,
    )
    idle_fill_share: float = setting(
        PlannerConfig.idle_fill_share,
        "...only while the coming demand needs this share of the robot's time",
        min=0.0,
        max=10.0,
    )
    alerts: bool = setting(True, "Forecast the back room and alert staff before it runs dry")
    alert_lead_s: float = setting(
        AlertConfig.lead_s, "Alert when the back room is predicted empty within this (s)", min=0.0, max=86400.0
    )
    alert_min_at_risk: float = setting(
        AlertConfig.min_at_risk, "Expected sales at risk before the delivery that raise an alert", min=0.0
    )
    save_period_s: float = setting(
        CoreConfig.save_period_s, "Write the learned model and lane estimates this often (s)", min=1.0, max=3600.0
    )
    refit_period_s: float = setting(
        CoreConfig.refit_period_s, "Refit the demand model this often (s)", min=1.0, max=86400.0
    )

    def core(self) -> CoreConfig:
        """The planner core's configuration (the rest keep CoreConfig's defaults)."""
        return CoreConfig(
            planner=PlannerConfig(
                horizon_s=self.horizon_s,
                step_s=self.forecast_step_s,
                min_benefit=self.min_benefit,
                topup_below=self.topup_below,
                batch_fraction=self.batch_fraction,
                urgent_s=self.urgent_s,
                urgent_fraction=self.urgent_fraction,
                saturated_share=self.saturated_share,
                idle_fill=self.idle_fill,
                idle_fill_share=self.idle_fill_share,
            ),
            alerts=AlertConfig(lead_s=self.alert_lead_s, min_at_risk=self.alert_min_at_risk) if self.alerts else None,
            handling_s=self.handling_s,
            setup_s=self.setup_s,
            max_outstanding=self.max_outstanding,
            task_timeout_s=self.task_timeout_s,
            refit_period_s=self.refit_period_s,
            save_period_s=self.save_period_s,
            retry_backoff_s=self.retry_backoff_s,
            policy=self.policy,
            reactive_threshold=self.reactive_threshold,
        )
