"""Self-service password change (:func:`trialtwin.services.users.change_password`).

Rules and their sources: 21 CFR 11.300(b) (passwords periodically revised); OWASP ASVS 5.0 6.2.3 (the current
and the new password are both required), 6.3.1 with requirement G17 (a wrong current password counts like a
failed login: the 10th failure within 15 minutes locks, ``sessions.MAX_FAILURES``), 7.4.3 (other sessions end on
a change), 6.2.x (the new password passes the policy of ``services.passwords``); A6 (account events in the
security log, no password in any entry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from trialtwin.services.errors import PermissionDenied
from trialtwin.services.sessions import AccountLocked, LoginFailed, resolve_session, start_session
from trialtwin.services.users import (
    AccountFieldError,
    WrongPassword,
    bootstrap_admin,
    change_password,
    create_user,
    deactivate_user,
)
from trialtwin.store import Database
from trialtwin.store.audit import verify_chain
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import AuditLog, User
from trialtwin.store.tables_access import SecurityEvent, WebSession

OLD = "correct horse battery staple"
NEW = "velvet walrus juggles amber teacups"
T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[tuple[Database, Clock, int, int]]:
    db = Database(f"sqlite:///{tmp_path / 'pw.db'}")
    upgrade(db)
    clock = Clock()
    admin = bootstrap_admin(db, "admin", "Ada Admin", OLD, clock=clock).id
    user = create_user(db, "inv1", "Ivy Investigator", OLD, actor=admin, clock=clock).id
    yield db, clock, admin, user
    db.dispose()


def _events(db: Database, username: str) -> list[SecurityEvent]:
    with db.read_session() as s:
        return list(
            s.execute(select(SecurityEvent).where(SecurityEvent.username == username).order_by(SecurityEvent.id))
            .scalars()
            .all()
        )


def _hash(db: Database, user_id: int) -> str:
    with db.read_session() as s:
        user = s.get(User, user_id)
        assert user is not None
        return user.password_hash


def test_a_change_stores_a_new_argon2_hash_audited_and_logged_without_the_password(
    accounts: tuple[Database, Clock, int, int],
) -> None:
    db, clock, _, user = accounts
    before = _hash(db, user)
    done = change_password(db, user, OLD, NEW, clock=clock)
    assert (done.user_id, done.username, done.changed_at) == (user, "inv1", T0)
    after = _hash(db, user)
    assert after != before and after.startswith("$argon2id$")
    assert PasswordHasher().verify(after, NEW)
    # the new password logs in, the old one no longer does
    start_session(db, "inv1", NEW, clock=clock)
    with pytest.raises(LoginFailed):
        start_session(db, "inv1", OLD, clock=clock)
    with db.read_session() as s:
        (entry,) = s.execute(
            select(AuditLog).where(AuditLog.table_name == "users", AuditLog.action == "update")
        ).scalars()
        assert verify_chain(s).ok
    assert (entry.record_id, entry.user_id, entry.fields) == (str(user), user, "password_hash")
    assert entry.reason == "password changed by the account holder"
    # neither the password nor the hash is written to the trail (store.audit.REDACTED_FIELDS)
    assert entry.new_value == '{"password_hash":"[redacted]"}' and entry.old_value == '{"password_hash":"[redacted]"}'
    logged = [e for e in _events(db, "inv1") if e.event == "password_changed"]
    assert len(logged) == 1 and logged[0].user_id == user
    for e in _events(db, "inv1"):
        assert OLD not in e.detail and NEW not in e.detail


def test_other_sessions_end_and_the_kept_one_stays(accounts: tuple[Database, Clock, int, int]) -> None:
    db, clock, _, user = accounts
    mine = start_session(db, "inv1", OLD, clock=clock)
    other1 = start_session(db, "inv1", OLD, clock=clock)
    other2 = start_session(db, "inv1", OLD, clock=clock)
    admins = start_session(db, "admin", OLD, clock=clock)
    kept = resolve_session(db, mine.session_id, clock=clock)
    assert kept is not None
    done = change_password(db, user, OLD, NEW, clock=clock, keep_session=kept.session_pk)
    assert (done.sessions_ended, done.tokens_revoked) == (2, 0)
    assert resolve_session(db, mine.session_id, clock=clock) is not None
    assert resolve_session(db, other1.session_id, clock=clock) is None
    assert resolve_session(db, other2.session_id, clock=clock) is None
    assert resolve_session(db, admins.session_id, clock=clock) is not None  # another user's session: untouched
    with db.read_session() as s:
        reasons = [r.end_reason for r in s.execute(select(WebSession).where(WebSession.user_id == user)).scalars()]
    assert sorted(reasons, key=str) == [None, "password_changed", "password_changed"]
    ends = [e.detail for e in _events(db, "inv1") if e.event == "session_end"]
    assert ends == ["password_changed", "password_changed"]


def test_disabling_still_ends_every_session_through_the_shared_step(
    accounts: tuple[Database, Clock, int, int],
) -> None:
    db, clock, admin, _ = accounts
    sessions = [start_session(db, "inv1", OLD, clock=clock) for _ in range(2)]
    deactivate_user(db, "inv1", reason="left", actor=admin, clock=clock)
    assert all(resolve_session(db, t.session_id, clock=clock) is None for t in sessions)
    assert [e.detail for e in _events(db, "inv1") if e.event == "session_end"] == ["user_disabled"] * 2


def test_a_wrong_current_password_is_refused_counted_and_changes_nothing(
    accounts: tuple[Database, Clock, int, int],
) -> None:
    db, clock, _, user = accounts
    other = start_session(db, "inv1", OLD, clock=clock)
    before = _hash(db, user)
    with pytest.raises(WrongPassword) as err:
        change_password(db, user, "not my password at all", NEW, clock=clock)
    assert isinstance(err.value, PermissionDenied) and err.value.field == "current_password"
    assert _hash(db, user) == before
    assert resolve_session(db, other.session_id, clock=clock) is not None  # nothing ended
    failed = [e for e in _events(db, "inv1") if e.event == "login_failed"]
    assert len(failed) == 1 and failed[0].detail == "password_change: wrong password"
    assert "not my password" not in failed[0].detail


def test_ten_wrong_current_passwords_lock_the_account_like_failed_logins(
    accounts: tuple[Database, Clock, int, int],
) -> None:
    db, clock, _, user = accounts
    for n in range(1, 11):  # sessions.MAX_FAILURES = 10 (ASVS 6.3.1; G17)
        expected = WrongPassword if n < 10 else AccountLocked
        with pytest.raises(expected):
            change_password(db, user, f"wrong password {n:02d}", NEW, clock=clock)
    with pytest.raises(AccountLocked):  # locked: even the right current password is refused unchecked
        change_password(db, user, OLD, NEW, clock=clock)
    with pytest.raises(AccountLocked):  # and so is logging in
        start_session(db, "inv1", OLD, clock=clock)
    events = [e.event for e in _events(db, "inv1")]
    assert events.count("login_failed") == 10 and "login_locked" in events
    clock.now += dt.timedelta(minutes=16)  # the 15-minute window has passed
    assert change_password(db, user, OLD, NEW, clock=clock).username == "inv1"


@pytest.mark.parametrize(
    ("new", "fragment"),
    [
        ("short one", "12 to 1024 characters (got 9)"),
        ("x" * 1025, "12 to 1024 characters (got 1025)"),
        ("password1234", "breached"),  # zxcvbn list, as in tests/unit/services/test_passwords.py
        ("my name is inv1 and more", "username"),
        (OLD, "differ from the current one"),
    ],
)
def test_a_new_password_against_the_policy_is_refused_naming_new_password(
    accounts: tuple[Database, Clock, int, int], new: str, fragment: str
) -> None:
    db, clock, _, user = accounts
    other = start_session(db, "inv1", OLD, clock=clock)
    before = _hash(db, user)
    with pytest.raises(AccountFieldError) as err:
        change_password(db, user, OLD, new, clock=clock)
    assert err.value.field == "new_password" and fragment in err.value.message
    assert new not in err.value.message
    assert _hash(db, user) == before
    assert resolve_session(db, other.session_id, clock=clock) is not None
    assert not [e for e in _events(db, "inv1") if e.event in ("password_changed", "login_failed")]


def test_a_disabled_account_cannot_change_its_password(accounts: tuple[Database, Clock, int, int]) -> None:
    db, clock, admin, user = accounts
    deactivate_user(db, "inv1", reason="left", actor=admin, clock=clock)
    with pytest.raises(PermissionDenied):
        change_password(db, user, OLD, NEW, clock=clock)
