"""The recorder node's settings: its parameters declared once, typed (restock.params.setting)."""

from __future__ import annotations

from dataclasses import dataclass

from restock.params import NodeSettings, setting


@dataclass(frozen=True)
class RecorderSettings(NodeSettings):
    output_path: str = setting("", "MCAP file to write; empty: var/record/restock-<time>.mcap")
    image_period_s: float = setting(
        60.0, "keep one camera frame per camera this often (s, node clock); 0: all", min=0.0, max=3600.0
    )
    split_period_s: float = setting(
        0.0,
        "start a new file at each multiple of this many seconds of the node's clock; 0: one file",
        min=0.0,
        max=31536000.0,
    )
    live_server: bool = setting(False, "also serve a live Foxglove WebSocket view on 127.0.0.1")
    live_port: int = setting(8765, "port of the live Foxglove view", min=1024, max=65535)
