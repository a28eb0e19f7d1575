"""A login under attack: the attempt is counted before scrypt runs, and scrypt runs on a small pool.

scrypt takes ~50 ms and 16 MiB a check. Counted only after it returned, a hundred guesses sent at
once all reached it; and on asyncio's default pool (as many threads as cores + 4) a flood took
every core from the control loop. Here the :class:`LoginThrottle` reserves each attempt first,
and at most ``workers`` checks run at once with ``queue`` waiting; more are answered "busy" and
not counted (the password was never looked at).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from restock.teleop.auth import AuthError, LoginThrottle, Operator, OperatorBook

LOGIN_REFUSED = "login refused"


class LoginRefused(AuthError):
    """A refused login: ``str(err)`` is the logged reason; ``public`` and ``status`` the answer."""

    def __init__(self, reason: str, kind: str = "login", public: str = LOGIN_REFUSED, status: int = 401) -> None:
        super().__init__(reason)
        self.kind, self.public, self.status = kind, public, status


class LoginDesk:
    def __init__(self, book: OperatorBook, throttle: LoginThrottle, workers: int = 1, queue: int = 8) -> None:
        self.book = book
        self.throttle = throttle
        self.queue = queue
        self.waiting = 0  # checks running or waiting for a worker
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="teleop-scrypt")

    async def check(self, name: str, password: str, address: str, now: float) -> Operator:
        """The operator for a right name and password from address, else LoginRefused."""
        try:
            reservation = self.throttle.reserve(name, address, now)
        except AuthError as err:
            raise LoginRefused(str(err)) from None
        if self.waiting >= self.queue:
            self.throttle.cancel(reservation)
            raise LoginRefused(f"{self.waiting} checks waiting", "login_busy", "busy: try again in a moment", 503)
        self.waiting += 1
        try:
            operator = await asyncio.get_running_loop().run_in_executor(self._pool, self.book.check, name, password)
        except AuthError as err:
            raise LoginRefused(str(err)) from None
        finally:
            self.waiting -= 1
        self.throttle.succeeded(reservation)
        return operator

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
