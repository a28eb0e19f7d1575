"""Signals held from the fork for the nodes the bring-up starts (pure: no rclpy, no node module).

Every node's console script starts in the nodes' launcher (nodes/entry.py), which installs quiet SIGINT and
SIGTERM handlers before it imports the node and then unblocks both. The bring-up starts such a
process with both signals blocked (:func:`start_blocked`), so one that comes while the interpreter
itself starts is held until those handlers are in, instead of killing a half-started node.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

NODE_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DISTRIBUTION = "restock"
COMMAND = "restock"  # the CLI: the one console script of ours that is not a node


def start_blocked() -> None:
    """``preexec_fn``: SIGINT and SIGTERM held from the fork (blocked signals survive exec and stay
    pending) until the node's launcher unblocks them."""
    signal.pthread_sigmask(signal.SIG_BLOCK, NODE_SIGNALS)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """SIGINT and SIGTERM held (blocked, kept pending) in this thread and every thread it starts
    meanwhile; a held one lands when the block ends. For a node's construction: a signal mid-way
    raised KeyboardInterrupt inside a half-built node's C calls or a logger's ``__del__``, which
    printed a traceback nobody could act on."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, NODE_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def starts_here(executable: str) -> bool:
    """Whether ``executable`` (a name or a path) is one of our node console scripts, all of which
    start through the launcher that unblocks the signals (setup.py points every NODES entry there)."""
    from importlib.metadata import entry_points

    name = os.path.basename(executable)
    return name != COMMAND and any(
        ep.dist is not None and ep.dist.name == DISTRIBUTION for ep in entry_points(group="console_scripts", name=name)
    )
