"""Operator authentication: hashed credentials, short-lived session tokens, one-time WebSocket tickets.

Passwords are stored as scrypt hashes (``scrypt$n$r$p$salt_b64$hash_b64``) in an operators file
(YAML: ``operators: {name: {password_scrypt: ..., robots: [...]}}``); nothing here keeps a
password. A login returns a random bearer token that expires after ``session_ttl_s`` and dies
at logout; a token is never accepted again once revoked (replay). Browsers cannot set headers on
a WebSocket, so the app trades its token for a one-time ticket that the WebSocket URL carries;
a ticket is good for one connection within ``ticket_ttl_s``.

Pure Python: the clock is passed in, so every rule is tested without waiting.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import math
import re
import secrets
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from restock.yamlfile import load_yaml_file

OPERATOR_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# scrypt cost: 2**14 * 8 * 128 B = 16 MiB and ~50 ms per check; enough to make offline guessing slow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_PASSWORD_BYTES = 1024


class AuthError(Exception):
    """A refused credential, token or ticket; the message is the logged reason (never a secret)."""


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """The stored form of a password: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against its stored scrypt hash; False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=2**26,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True)
class Operator:
    name: str
    password_scrypt: str
    robots: tuple[str, ...] = ()  # robots this operator may claim; empty: any


class OperatorBook:
    """The operators who may log in, read from an operators file."""

    # A hash checked when the name is unknown, so a login takes as long either way.
    _DUMMY_HASH = hash_password("not a password", n=2**14)

    def __init__(self, operators: dict[str, Operator]) -> None:
        self.operators = operators
        self.password_checks = 0  # scrypt runs so far (the throttle's figures count them)

    @classmethod
    def load(cls, path: Path) -> OperatorBook:
        try:
            data = load_yaml_file(path, ValueError)  # budgets, duplicate keys, UTF-8 named by line
        except OSError as err:
            raise ValueError(f"{path}: cannot read the operators file ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(data, dict) or not isinstance(data.get("operators"), dict):
            raise ValueError(f"{path}: expected a mapping 'operators: {{name: {{password_scrypt: ...}}}}'")
        operators = {}
        for name, body in data["operators"].items():
            where = f"{path}: operators.{name}"
            if not isinstance(name, str) or not OPERATOR_NAME.match(name):
                raise ValueError(f"{where}: operator names are 1-64 letters, digits, '_', '.', '-'")
            if not isinstance(body, dict) or not isinstance(body.get("password_scrypt"), str):
                raise ValueError(f"{where}: expected password_scrypt (make one with `restock teleop-passwd`)")
            if not body["password_scrypt"].startswith("scrypt$") or body["password_scrypt"].count("$") != 5:
                raise ValueError(f"{where}.password_scrypt: not a scrypt$n$r$p$salt$hash string")
            robots = body.get("robots", [])
            if not isinstance(robots, list) or not all(isinstance(r, str) for r in robots):
                raise ValueError(f"{where}.robots: expected a list of robot ids")
            operators[name] = Operator(name, body["password_scrypt"], tuple(robots))
        return cls(operators)

    def check(self, name: str, password: str) -> Operator:
        """The operator for a correct name and password, else AuthError (the same reason either way)."""
        try:
            size = len(password.encode())
        except UnicodeEncodeError:  # a lone surrogate from JSON: no password has one
            raise AuthError("password is not valid UTF-8") from None
        if size > MAX_PASSWORD_BYTES:
            raise AuthError("password too long")
        op = self.operators.get(name)
        self.password_checks += 1
        ok = verify_password(password, op.password_scrypt if op else self._DUMMY_HASH)
        if op is None or not ok:
            raise AuthError("bad operator name or password")
        return op


@dataclass
class Session:
    token: str
    operator: str
    issued: float
    expires: float


@dataclass
class _Ticket:
    token: str
    expires: float


@dataclass
class Sessions:
    """Bearer tokens and one-time WebSocket tickets, with expiry and logout."""

    session_ttl_s: float = 900.0
    ticket_ttl_s: float = 20.0
    max_sessions_per_operator: int = 4
    _sessions: dict[str, Session] = field(default_factory=dict)
    _tickets: dict[str, _Ticket] = field(default_factory=dict)
    _revoked: dict[str, float] = field(default_factory=dict)  # token -> when it would have expired
    # token -> when it expired: a swept session still reads "expired token" (not "unknown") for one TTL,
    # whichever of the sweep and the request comes first
    _expired: dict[str, float] = field(default_factory=dict)

    def open(self, operator: str, now: float) -> Session:
        self.sweep(now)
        mine = sorted((s for s in self._sessions.values() if s.operator == operator), key=lambda s: s.issued)
        for old in mine[: max(0, len(mine) - self.max_sessions_per_operator + 1)]:
            self.close(old.token)  # oldest session makes room: a stolen old token dies
        session = Session(secrets.token_urlsafe(32), operator, now, now + self.session_ttl_s)
        self._sessions[session.token] = session
        return session

    def check(self, token: str | None, now: float) -> Session:
        """The live session of a bearer token, else AuthError naming why."""
        if not token:
            raise AuthError("no token")
        session = self._sessions.get(token)
        if session is None:
            if token in self._revoked:
                raise AuthError("replayed token (logged out)")
            if token in self._expired:
                raise AuthError("expired token")
            raise AuthError("unknown token")
        if now >= session.expires:
            del self._sessions[token]
            self._expired[token] = session.expires
            raise AuthError("expired token")
        return session

    def close(self, token: str) -> bool:
        """Logout: the token is revoked for good (remembered until it would have expired)."""
        session = self._sessions.pop(token, None)
        if session is None:
            return False
        self._revoked[token] = session.expires
        for t, ticket in list(self._tickets.items()):
            if ticket.token == token:
                del self._tickets[t]
        return True

    def issue_ticket(self, token: str, now: float) -> str:
        session = self.check(token, now)
        ticket = secrets.token_urlsafe(24)
        self._tickets[ticket] = _Ticket(session.token, min(now + self.ticket_ttl_s, session.expires))
        return ticket

    def redeem_ticket(self, ticket: str | None, now: float) -> Session:
        """The session behind a one-time ticket; the ticket is spent whether or not it is still good."""
        if not ticket:
            raise AuthError("no ticket")
        entry = self._tickets.pop(ticket, None)
        if entry is None:
            raise AuthError("unknown or already used ticket")
        if now >= entry.expires:
            raise AuthError("expired ticket")
        return self.check(entry.token, now)

    def sweep(self, now: float) -> None:
        """Forget expired sessions, tickets and revoked tokens (called often: tickets come cheap)."""
        for t in [t for t, s in self._sessions.items() if now >= s.expires]:
            self._expired[t] = self._sessions.pop(t).expires
        for t in [t for t, at in self._expired.items() if now >= at + self.session_ttl_s]:
            del self._expired[t]
        for t in [t for t, k in self._tickets.items() if now >= k.expires]:
            del self._tickets[t]
        for t in [t for t, exp in self._revoked.items() if now >= exp]:
            del self._revoked[t]  # expired anyway: "unknown token" from now on


@dataclass(frozen=True)
class Reservation:
    """An attempt counted before its password is checked; handed back on success."""

    name_key: tuple[str, str]
    address_key: tuple[str, str]
    stamp: float


@dataclass
class LoginThrottle:
    """Login attempts, counted *before* the password is checked, so a hundred attempts sent at once
    cannot all reach scrypt: at most ``max_attempts`` per operator name from one address, and
    ``max_per_address`` for any names from one address, in ``window_s``.

    A name is locked per address, never everywhere: an attacker elsewhere cannot lock the owner out.
    A success hands its attempt back and clears the name's count at that address. Memory is bounded:
    a key keeps at most its limit of stamps, keys whose stamps have all passed are swept, and past
    ``max_keys`` a new key is refused (fail closed) until the sweep makes room.
    """

    max_attempts: int = 5
    max_per_address: int = 30
    window_s: float = 60.0
    max_keys: int = 50_000
    _stamps: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _last_sweep: float = -math.inf

    def reserve(self, name: str, address: str, now: float) -> Reservation:
        """Count an attempt of name from address, or AuthError (logged, not shown) when over a limit."""
        if now - self._last_sweep >= self.window_s / 4 or len(self._stamps) >= self.max_keys:
            self._sweep(now)
        name_key, address_key = (name, address), ("", address)  # "": every name from this address
        for key, limit in ((name_key, self.max_attempts), (address_key, self.max_per_address)):
            stamps = self._stamps.get(key)
            while stamps and now - stamps[0] >= self.window_s:
                stamps.popleft()
            if stamps is not None and len(stamps) >= limit:
                who = f"{name} from {address}" if key is name_key else f"any name from {address}"
                raise AuthError(f"too many failed logins for {who}; wait {self.window_s:.0f} s")
        new = (name_key not in self._stamps) + (address_key not in self._stamps)
        if len(self._stamps) + new > self.max_keys:
            raise AuthError(f"login throttle full ({self.max_keys} names and addresses in {self.window_s:.0f} s)")
        self._stamps.setdefault(name_key, deque(maxlen=self.max_attempts)).append(now)
        self._stamps.setdefault(address_key, deque(maxlen=self.max_per_address)).append(now)
        return Reservation(name_key, address_key, now)

    def succeeded(self, reservation: Reservation) -> None:
        """The right password: the owner's earlier typos at this address are forgiven, and this
        attempt does not count against the address (its other names' failures still do)."""
        self._stamps.pop(reservation.name_key, None)
        self._give_back(reservation.address_key, reservation.stamp)

    def cancel(self, reservation: Reservation) -> None:
        """The password was never checked (the server was busy): the attempt does not count."""
        self._give_back(reservation.name_key, reservation.stamp)
        self._give_back(reservation.address_key, reservation.stamp)

    def __len__(self) -> int:
        return len(self._stamps)

    def _give_back(self, key: tuple[str, str], stamp: float) -> None:
        stamps = self._stamps.get(key)
        if stamps is not None:
            with contextlib.suppress(ValueError):
                stamps.remove(stamp)
            if not stamps:
                del self._stamps[key]

    def _sweep(self, now: float) -> None:
        self._last_sweep = now
        for key in [k for k, s in self._stamps.items() if not s or now - s[-1] >= self.window_s]:
            del self._stamps[key]


def passwd_main(argv: list[str] | None = None) -> int:
    """`restock teleop-passwd NAME`: print an operators-file entry for NAME (password read from stdin)."""
    import getpass

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not OPERATOR_NAME.match(args[0]):
        print("usage: restock teleop-passwd OPERATOR_NAME  (password from the terminal or stdin)", file=sys.stderr)
        return 2
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        print("teleop-passwd: use at least 8 characters", file=sys.stderr)
        return 2
    print(yaml.safe_dump({"operators": {args[0]: {"password_scrypt": hash_password(password)}}}), end="")
    return 0
