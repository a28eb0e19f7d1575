"""Operator credentials, session tokens, one-time tickets, login throttling."""

from __future__ import annotations

import subprocess
import sys

import pytest

from restock.teleop.auth import AuthError, LoginThrottle, OperatorBook, Sessions, hash_password, verify_password


def test_password_hash_verifies_only_the_password():
    stored = hash_password("correct horse", n=2**10)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("correct horse", "scrypt$1024$8$1$not base64!$x")
    assert hash_password("same", n=2**10) != hash_password("same", n=2**10)  # salted


def test_operators_file(tmp_path):
    path = tmp_path / "ops.yaml"
    path.write_text(
        f"operators:\n  alice:\n    password_scrypt: '{hash_password('pw-alice', n=2**10)}'\n    robots: [r1]\n"
    )
    book = OperatorBook.load(path)
    assert book.check("alice", "pw-alice").robots == ("r1",)
    for name, pw in (("alice", "wrong"), ("mallory", "pw-alice")):
        with pytest.raises(AuthError, match="bad operator name or password"):
            book.check(name, pw)
    path.write_text("operators:\n  alice:\n    password: plain\n")
    with pytest.raises(ValueError, match="alice: expected password_scrypt"):
        OperatorBook.load(path)
    path.write_text("operators:\n  'bad name!': {password_scrypt: 'scrypt$1$1$1$a$b'}\n")
    with pytest.raises(ValueError, match="operator names"):
        OperatorBook.load(path)


def test_example_operators_file_loads_and_lets_nobody_in():
    from restock.paths import SOURCE_ROOT

    book = OperatorBook.load(SOURCE_ROOT / "config" / "operators.example.yaml")
    assert set(book.operators) == {"alice", "bob"}
    with pytest.raises(AuthError):
        book.check("alice", "REPLACE_ME")


def test_token_expiry_logout_and_replay():
    s = Sessions(session_ttl_s=60, ticket_ttl_s=5)
    session = s.open("alice", now=0.0)
    assert s.check(session.token, 59.0).operator == "alice"
    with pytest.raises(AuthError, match="expired token"):
        s.check(session.token, 60.0)
    with pytest.raises(AuthError, match="no token"):
        s.check(None, 0.0)
    with pytest.raises(AuthError, match="unknown token"):
        s.check("forged", 0.0)
    other = s.open("alice", now=100.0)
    assert s.close(other.token)
    with pytest.raises(AuthError, match="replayed token"):
        s.check(other.token, 101.0)


def test_an_expired_token_reads_expired_whether_or_not_the_sweep_came_first():
    s = Sessions(session_ttl_s=60)
    swept_first = s.open("alice", now=0.0)
    s.sweep(61.0)  # the server's ticker ran between expiry and the request
    with pytest.raises(AuthError, match="expired token"):
        s.check(swept_first.token, 61.0)
    s.sweep(121.0)  # remembered for one TTL past expiry, then forgotten (bounded memory)
    with pytest.raises(AuthError, match="unknown token"):
        s.check(swept_first.token, 121.0)
    assert not s._expired


def test_ticket_is_one_time_and_short_lived():
    s = Sessions(session_ttl_s=60, ticket_ttl_s=5)
    token = s.open("bob", 0.0).token
    ticket = s.issue_ticket(token, 1.0)
    assert s.redeem_ticket(ticket, 2.0).operator == "bob"
    with pytest.raises(AuthError, match="already used"):
        s.redeem_ticket(ticket, 2.0)
    late = s.issue_ticket(token, 1.0)
    with pytest.raises(AuthError, match="expired ticket"):
        s.redeem_ticket(late, 6.5)
    # A ticket dies with its session's logout.
    dead = s.issue_ticket(token, 1.0)
    s.close(token)
    with pytest.raises(AuthError):
        s.redeem_ticket(dead, 1.5)


def test_oldest_session_makes_room():
    s = Sessions(max_sessions_per_operator=2)
    a, b, c = (s.open("alice", float(t)) for t in range(3))
    with pytest.raises(AuthError):
        s.check(a.token, 3.0)
    assert s.check(b.token, 3.0) and s.check(c.token, 3.0)


def test_login_throttle_counts_attempts_before_the_check_per_name_and_address():
    t = LoginThrottle(max_attempts=3, max_per_address=5, window_s=10)
    for i in range(3):
        t.reserve("alice", "10.0.0.9", float(i))  # not checked yet: counted all the same
    with pytest.raises(AuthError, match=r"too many failed logins for alice from 10\.0\.0\.9"):
        t.reserve("alice", "10.0.0.9", 5.0)
    t.succeeded(t.reserve("alice", "10.0.0.7", 5.0))  # the owner elsewhere is not locked out
    t.reserve("bob", "10.0.0.9", 5.0)
    t.reserve("carol", "10.0.0.9", 5.0)
    with pytest.raises(AuthError, match=r"any name from 10\.0\.0\.9"):  # spraying names from one address
        t.reserve("dave", "10.0.0.9", 5.0)
    t.reserve("alice", "10.0.0.9", 12.5)  # the window passed


def test_login_throttle_success_and_cancel_give_the_attempt_back():
    t = LoginThrottle(max_attempts=2, max_per_address=3, window_s=60)
    t.reserve("alice", "a", 0.0)
    t.succeeded(t.reserve("alice", "a", 1.0))  # typos forgiven at this address
    t.reserve("alice", "a", 2.0)
    t.cancel(t.reserve("alice", "a", 3.0))  # never checked: does not count
    t.reserve("alice", "a", 4.0)
    with pytest.raises(AuthError, match="alice from a"):
        t.reserve("alice", "a", 5.0)
    # The success did not reset the address's count for other names: 0.0, 2.0, 4.0 are still in it.
    with pytest.raises(AuthError, match="any name from a"):
        t.reserve("bob", "a", 5.0)


def test_login_throttle_memory_is_bounded_and_swept():
    t = LoginThrottle(max_attempts=2, max_per_address=2, window_s=10, max_keys=100)
    for i in range(50):  # a name and an address key each
        t.reserve("alice", f"10.0.0.{i}", 0.0)
    assert len(t) == 100
    with pytest.raises(AuthError, match="throttle full"):  # fail closed while full
        t.reserve("alice", "10.0.1.1", 1.0)
    t.reserve("alice", "10.0.0.7", 2.0)  # known keys go on, within their limits
    with pytest.raises(AuthError, match=r"alice from 10\.0\.0\.7"):
        t.reserve("alice", "10.0.0.7", 3.0)
    t.reserve("alice", "10.0.1.1", 10.5)  # the window passed: swept, room again
    assert len(t) == 4  # 10.0.0.7 (its attempt at 2.0 is still in the window) and 10.0.1.1


def test_scrypt_checks_do_not_grow_the_process():
    # Each check allocates 16 MiB; without a fixed mmap threshold the second one stays on the heap.
    script = (
        "import psutil\n"
        "from restock.malloc import pin_mmap_threshold\n"
        "from restock.teleop.auth import hash_password, verify_password\n"
        "assert pin_mmap_threshold()\n"
        "before = psutil.Process().memory_info().rss\n"
        "stored = hash_password('pw')\n"
        "for _ in range(3):\n"
        "    assert verify_password('pw', stored)\n"
        "print(psutil.Process().memory_info().rss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 4 * 2**20, f"RSS grew by {int(out.stdout) / 2**20:.1f} MiB over 4 scrypt runs"


def test_operators_file_is_found_from_the_working_directory_of_an_install(tmp_path, monkeypatch):
    """As the README says: config/operators.yaml in the checkout, the bridge run from there, while
    the package itself is installed in site-packages (whose config/ does not exist)."""
    import restock.paths as paths

    checkout, site, share = tmp_path / "checkout", tmp_path / "site-packages", tmp_path / "share" / "restock"
    (checkout / "config").mkdir(parents=True)
    (checkout / "config" / "operators.yaml").write_text("operators: {}\n")
    (share / "config").mkdir(parents=True)
    monkeypatch.setattr(paths, "SOURCE_ROOT", site)
    monkeypatch.setattr(paths, "share_dir", lambda: share)
    monkeypatch.chdir(checkout)
    tried = paths.config_candidates("operators.yaml")
    assert tried == [
        checkout / "operators.yaml",
        checkout / "config" / "operators.yaml",
        share / "config" / "operators.yaml",
        site / "config" / "operators.yaml",
    ]
    assert next(p for p in tried if p.is_file()) == checkout / "config" / "operators.yaml"
    assert paths.config_candidates(str(tmp_path / "ops.yaml")) == [tmp_path / "ops.yaml"]  # a path is taken as is
