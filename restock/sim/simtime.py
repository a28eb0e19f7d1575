"""Sim start times. No MuJoCo, no rclpy: the day monitor reads them too."""

from __future__ import annotations

from restock.demand.saleslog import parse_timestamp


def parse_time(value: float | str) -> float:
    """Epoch seconds from a number, or text as the sales log takes it (ISO 8601, UTC unless it
    says otherwise, or epoch seconds)."""
    return float(value) if isinstance(value, (int, float)) else parse_timestamp(value)
