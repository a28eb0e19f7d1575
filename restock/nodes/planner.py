"""The planner node: shelf state and sales history in, ordered restock tasks out.

Inputs: shelf/observations, arm_controller/results, pos/sales (optional), handoff/requests,
handoff/resolutions. Outputs: planner/tasks, planner/markers, handoff/requests; service planner/get_plan.
"""

from __future__ import annotations

from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from restock import records, topics
from restock.nodes.base import STORE_FILE, WARN, RestockNode, run_node


class PlannerNode(RestockNode):
    NODE_NAME = "planner"
    PARAMS = (STORE_FILE,)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        self.publish_task = self.create_record_publisher(topics.RESTOCK_TASKS)
        self.publish_handoff = self.create_record_publisher(topics.HANDOFF_REQUESTS)
        self.marker_pub = self.create_publisher(MarkerArray, topics.PLAN_MARKERS, 2)
        self.create_record_subscription(records.ShelfObservation, topics.SHELF_OBSERVATIONS, self.on_observation)
        self.create_record_subscription(records.TaskResult, topics.TASK_RESULTS, self.on_result)
        self.create_record_subscription(records.SaleEvent, topics.SALES, self.on_sale)
        self.create_record_subscription(records.HandoffRequest, topics.HANDOFF_REQUESTS, lambda _r: None)
        self.create_record_subscription(records.HandoffResolution, topics.HANDOFF_RESOLUTIONS, lambda _r: None)
        self.create_service(Trigger, topics.PLAN_SERVICE, self.on_get_plan)
        self.set_health(WARN, "not implemented yet: no demand model, no tasks (issue: sales patterns and planner)")

    def on_observation(self, obs: records.ShelfObservation) -> None:
        pass

    def on_result(self, result: records.TaskResult) -> None:
        pass

    def on_sale(self, sale: records.SaleEvent) -> None:
        pass

    def on_get_plan(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        resp.success = False
        resp.message = "the planner is not implemented yet"
        return resp


def main() -> None:
    raise SystemExit(run_node(PlannerNode))


if __name__ == "__main__":
    main()
