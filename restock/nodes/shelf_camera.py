"""The shelf camera node (one per camera): frames in, per-lane observations out.

Inputs: cameras/<id>/image_raw, cameras/<id>/camera_info.
Outputs: shelf/observations, handoff/requests, cameras/<id>/detections_image.
"""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo, Image

from restock import records, topics
from restock.nodes.base import STORE_FILE, WARN, RestockNode, run_node
from restock.params import ParamSpec


class ShelfCameraNode(RestockNode):
    NODE_NAME = "shelf_camera"
    PARAMS = (STORE_FILE, ParamSpec("camera_id", str, "", "Which camera of the store description this node watches"))

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        self.camera = self.store.camera(str(self.p["camera_id"]))
        self.publish_observation = self.create_record_publisher(topics.SHELF_OBSERVATIONS)
        self.publish_handoff = self.create_record_publisher(topics.HANDOFF_REQUESTS)
        self.debug_pub = self.create_publisher(Image, topics.camera_debug_image(self.camera.id), 2)
        self.create_subscription(Image, topics.camera_image(self.camera.id), self.on_image, 2)
        self.create_subscription(CameraInfo, topics.camera_info(self.camera.id), lambda _m: None, 2)
        self.set_health(
            WARN, "not implemented yet: no detector, lanes are reported unknown (issue: shelf-gap detection)"
        )

    def on_image(self, msg: Image) -> None:
        lanes = [
            records.LaneObservation(lane_id=lv.id, state="unknown", confidence=0.0)
            for lv in self.store.lanes_seen_by(self.camera.id)
        ]
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.publish_observation(
            records.ShelfObservation(stamp=self.now_s(), camera_id=self.camera.id, frame_stamp=stamp, lanes=lanes)
        )


def main() -> None:
    raise SystemExit(run_node(ShelfCameraNode))


if __name__ == "__main__":
    main()
