"""Lockstep with the simulator as a process: sim time moves only when the participant has answered.

The participant here is this test: it hears /clock and joint_states and answers on lockstep/acks
by hand, the way restock.nodes.base does for every node (restock.graph.lockstep).
"""

from __future__ import annotations

import math
import time

import pytest
import rclpy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from restock import records, topics
from restock.nodes.base import ACK_QOS
from restock.testing.graph import spin_until

pytestmark = pytest.mark.graph


class Probe:
    """A lockstep participant by hand: counts what it hears and answers when told to."""

    def __init__(self, node: object) -> None:
        self.node = node
        self.clocks: list[float] = []
        self.joint_states = 0
        self.next_due: float | None = None
        self.pub = node.create_publisher(String, topics.LOCKSTEP_ACKS, ACK_QOS)  # type: ignore[attr-defined]
        node.create_subscription(Clock, topics.CLOCK, self._on_clock, 100)  # type: ignore[attr-defined]
        node.create_subscription(JointState, topics.JOINT_STATES, self._on_joints, 100)  # type: ignore[attr-defined]

    def _on_clock(self, msg: Clock) -> None:
        self.clocks.append(msg.clock.sec + msg.clock.nanosec * 1e-9)

    def _on_joints(self, msg: JointState) -> None:
        self.joint_states += 1

    def ack(self) -> None:
        ack = records.LockstepAck(
            node="probe",
            incarnation="1",
            stamp=self.clocks[-1] if self.clocks else 0.0,
            next_due=self.next_due,
            received={topics.CLOCK: [len(self.clocks)], topics.JOINT_STATES: [self.joint_states]},
        )
        self.pub.publish(String(data=records.encode(ack)))

    def answer_until(self, condition, what: str) -> None:
        """Answer (as a participant does after each callback) until ``condition`` holds."""

        def answered() -> bool:
            if condition():
                return True  # and no answer to what brought it: the simulator waits on that
            self.ack()
            return False

        spin_until(self.node, answered, 60, what)


def test_sim_time_waits_for_the_participant_and_wakes_it_when_asked(ros_graph, ros_node) -> None:
    probe = Probe(ros_node)
    ros_graph(
        only=["sim"],
        params={
            "sim": {
                "lockstep": True,
                "lockstep_participants": ["probe"],
                "lockstep_timeout_s": 600.0,
                "real_time_factor": 0.0,
                "camera_rate_hz": 0.001,  # a frame every 1,000 sim-s: out of the way
                "ground_truth_period_s": 100.0,
                "idle_joint_state_rate_hz": 0.01,
            }
        },
    )
    # Nothing moves before the participant has answered once; then the first sync point: /clock alone.
    probe.answer_until(lambda: bool(probe.clocks), "the first /clock")
    t0 = probe.clocks[0]
    assert probe.joint_states == 0  # the sensors wait for /clock to be answered
    probe.next_due = t0 + 0.3  # wake me 0.3 sim-s on (nothing else is due that early)
    probe.answer_until(lambda: probe.joint_states >= 1, "the joint_states of the first sync point")
    probe.answer_until(lambda: len(probe.clocks) >= 2, "the second sync point")
    assert math.isclose(probe.clocks[1], t0 + 0.3, abs_tol=1e-6)
    # Silent now: the simulator holds sim time where it is (its timeout is 10 minutes).
    seen = len(probe.clocks), probe.joint_states
    _spin_for(ros_node, 2.0)
    assert (len(probe.clocks), probe.joint_states) == (seen[0], seen[1])
    # Without a wish of its own, the next sync point is the simulator's own: at most 5 sim-s on.
    probe.next_due = None
    probe.answer_until(lambda: len(probe.clocks) >= 3, "the third sync point")
    assert t0 + 0.3 < probe.clocks[2] <= t0 + 0.3 + 5.0 + 1e-6
    assert probe.clocks == sorted(probe.clocks)


def _spin_for(node: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
