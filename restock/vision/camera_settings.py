"""The shelf camera node's settings: its parameters declared once, typed (restock.params.setting).

The node declares them from this class and reads a checked instance; the pipeline's lane filter
and matcher get their configurations from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.params import NodeSettings, setting
from restock.vision.lane_filter import FilterConfig
from restock.vision.lanes import MatchConfig


@dataclass(frozen=True)
class ShelfCameraSettings(NodeSettings):
    camera_id: str = setting("", "Which camera of the store description this node watches")
    model_path: str = setting(
        "", "ONNX detector file; empty: shelf_detector_int8.onnx shipped in restock/vision/models"
    )
    lane_front_model: str = setting(
        "", "ONNX lane-front classifier; empty: the shipped one; 'none': decide lanes from the detector alone"
    )
    unfamiliar_threshold: float = setting(
        MatchConfig.front_unfamiliar,
        "Lane-front classifier probability that flags an unfamiliar item",
        min=0.01,
        max=1.0,
    )
    conf_threshold: float = setting(0.05, "Score a container or empty front needs at a lane front", min=0.01, max=0.99)
    flag_threshold: float = setting(0.3, "Score a hand, unfamiliar item or obstruction needs", min=0.01, max=0.99)
    iou_threshold: float = setting(0.5, "Non-maximum suppression IoU", min=0.1, max=0.95)
    confirm_frames: int = setting(3, "Frames seeing a lane front that must agree to change its state", min=1, max=30)
    flag_frames: int = setting(2, "Consecutive frames to raise or clear an unfamiliar/obstruction flag", min=1, max=30)
    hold_s: float = setting(10.0, "Hold a hidden lane's last state this long (s), then unknown", min=0.0, max=600.0)
    stale_timeout_s: float = setting(
        2.0, "No frame for this long (steady s): camera stale, lanes unknown", min=0.1, max=60.0
    )
    debug_every: int = setting(1, "Publish the annotated image every N frames (when someone listens)", min=1, max=100)
    threads: int = setting(0, "ONNX Runtime intra-op threads; 0: its default", min=0, max=64)
    appearance_path: str = setting(
        "var/shelf_camera/appearance.sqlite",
        "SQLite file of the store's SKU looks operators confirmed (shared by its cameras); empty: kept in memory",
    )

    def filter_config(self) -> FilterConfig:
        return FilterConfig(self.confirm_frames, self.flag_frames, self.hold_s)

    def match_config(self) -> MatchConfig:
        return MatchConfig(
            slot_score=self.conf_threshold, flag_score=self.flag_threshold, front_unfamiliar=self.unfamiliar_threshold
        )
