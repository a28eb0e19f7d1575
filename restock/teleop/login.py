"""A login under attack: the attempt is counted before scrypt runs, and scrypt runs on a small pool.

scrypt takes ~50 ms and 16 MiB a check. Counted only after it returned, a hundred guesses sent at
once all reached it; and on asyncio's default pool (as many threads as cores + 4) a flood took
every core from the control loop. Here the :class:`LoginThrottle` reserves each attempt first,
at most ``workers`` checks run at once, on threads at the lowest CPU priority (a flood of checks
takes what the control loop leaves), with ``queue`` waiting and at most ``per_address`` of those
from one address; more are answered "busy" and not counted (the password was never looked at).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from restock.teleop.auth import AuthError, LoginThrottle, Operator, OperatorBook

LOGIN_REFUSED = "login refused"


class LoginRefused(AuthError):
    """A refused login: ``str(err)`` is the logged reason; ``public`` and ``status`` the answer."""

    def __init__(self, reason: str, kind: str = "login", public: str = LOGIN_REFUSED, status: int = 401) -> None:
        super().__init__(reason)
        self.kind, self.public, self.status = kind, public, status


def _lowest_priority() -> None:
    """Nice this thread to 19 (Linux nices threads one by one; elsewhere nothing changes)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class LoginDesk:
    def __init__(
        self, book: OperatorBook, throttle: LoginThrottle, workers: int = 1, queue: int = 64, per_address: int = 8
    ) -> None:
        self.book = book
        self.throttle = throttle
        self.queue = queue
        self.per_address = per_address
        self.waiting = 0  # checks running or waiting for a worker
        self._waiting_from: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="teleop-scrypt", initializer=_lowest_priority)

    async def check(self, name: str, password: str, address: str, now: float) -> Operator:
        """The operator for a right name and password from address, else LoginRefused."""
        try:
            reservation = self.throttle.reserve(name, address, now)
        except AuthError as err:
            raise LoginRefused(str(err)) from None
        mine = self._waiting_from.get(address, 0)
        if self.waiting >= self.queue or mine >= self.per_address:
            self.throttle.cancel(reservation)
            why = f"{self.waiting} checks waiting, {mine} from {address}"
            raise LoginRefused(why, "login_busy", "busy: try again in a moment", 503)
        self.waiting += 1
        self._waiting_from[address] = mine + 1
        try:
            operator = await asyncio.get_running_loop().run_in_executor(self._pool, self.book.check, name, password)
        except AuthError as err:
            raise LoginRefused(str(err)) from None
        finally:
            self.waiting -= 1
            left = self._waiting_from.pop(address) - 1
            if left:
                self._waiting_from[address] = left
        self.throttle.succeeded(reservation)
        return operator

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
