"""The nodes' console scripts: quiet on SIGINT and SIGTERM from the start.

A node module imports rclpy, numpy, scipy, onnxruntime... before its ``main()`` runs, for a second
or more; a graph stopped then left a KeyboardInterrupt traceback in the node's log (SIGINT) or a
process killed by the signal (SIGTERM). Every console script of setup.py's NODES starts here
instead, importing nothing heavy:

1. while the node module is imported, SIGINT and SIGTERM end the process at once with status 0
   (nothing has been opened that needs closing);
2. then the node's ``main()`` runs with both signals raising KeyboardInterrupt: rclpy's own
   handlers, installed by ``rclpy.init``, shut its context down and chain to these, and
   :func:`restock.nodes.base.run_node` shuts the node down cleanly (the planner saves its model);
3. once ``main()`` has returned, a signal ends the process with ``main()``'s status.

The bring-up starts these executables with both signals blocked
(:func:`restock.graph.signals.start_blocked`), so one
that comes while the interpreter itself starts is held until step 1's handlers are in.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from restock.graph.signals import NODE_SIGNALS as SIGNALS


class _State:
    running = False  # the node's main() runs: a signal is a KeyboardInterrupt for run_node
    status = 0  # what a signal outside main() exits with
    signalled = False  # a stop signal came while main() ran


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, RuntimeError):  # closed, or a write cut short
            stream.flush()


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    if _State.running:
        _State.signalled = True
        raise KeyboardInterrupt
    _flush()
    os._exit(_State.status)  # no interpreter teardown: half-imported modules have nothing to close


def stop_signalled() -> bool:
    """Whether SIGINT or SIGTERM came while the node's main() ran. A KeyboardInterrupt raised inside
    a C call can surface as another exception (ctypes turns it into ArgumentError during MuJoCo's EGL
    set-up), before rclpy's signal handling has shut its context down: still a requested stop."""
    return _State.signalled


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # SystemExit("message"), as the interpreter prints it
    return 1


def launch(module: str) -> int:
    """Import ``module`` and run its ``main()`` under the handlers above; returns the exit status."""
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # a signal held since the fork lands now
    status = 0
    try:
        try:
            main = importlib.import_module(module).main
            _State.running = True
            main()
        except SystemExit as done:
            status = _status(done.code)
        except KeyboardInterrupt:
            pass  # outside run_node's own handling: before rclpy.init, or a second signal in its shutdown
    except KeyboardInterrupt:
        pass  # one more signal while the outcome above was taken
    _State.status, _State.running = status, False
    _flush()
    return status


def _console_script(module: str) -> Callable[[], int]:
    def run() -> int:
        return launch(module)

    run.__doc__ = f"The console script of {module}."
    return run


# One per console script (setup.py NODES): the node's module is imported only inside launch().
sim = _console_script("restock.nodes.sim")
shelf_camera = _console_script("restock.nodes.shelf_camera")
planner = _console_script("restock.nodes.planner")
arm_controller = _console_script("restock.nodes.arm_controller")
teleop_bridge = _console_script("restock.nodes.teleop_bridge")
recorder = _console_script("restock.nodes.recorder")
