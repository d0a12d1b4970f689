"""Sessions (trial-system-requirements G16, B5, G17; ASVS 7.x, 3.3.x) with an injected clock."""

from __future__ import annotations

from _web import PASSWORD, STUDY, Web
from sqlalchemy import select

from trialtwin.services import deactivate_user, revoke_role
from trialtwin.store.tables import RoleAssignment, User
from trialtwin.store.tables_access import SecurityEvent, WebSession

ME = "/api/v1/me"


def _events(web: Web, username: str) -> list[str]:
    with web.db.read_session() as s:
        return list(s.execute(select(SecurityEvent.event).where(SecurityEvent.username == username)).scalars())


def test_login_sets_an_httponly_lax_cookie_and_a_new_id_each_time(web: Web) -> None:
    r = web.client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("tt_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    first = web.client.cookies["tt_session"]
    web.login("inv1")
    second = web.client.cookies["tt_session"]
    assert first != second  # session fixation: a login always issues a new id (ASVS 7.2.4)
    # the earlier session of this browser was ended at the new login
    other = web.new_client()
    other.cookies.set("tt_session", first)
    assert other.get(ME).status_code == 401
    with web.db.read_session() as s:
        assert all(len(h) == 64 for h in s.execute(select(WebSession.token_hash)).scalars())  # only digests stored
        assert first not in list(s.execute(select(WebSession.token_hash)).scalars())


def test_secure_cookie_uses_the_host_prefix(secure_web: Web) -> None:
    r = secure_web.client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-tt_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert secure_web.client.get(ME).status_code == 200


def test_idle_timeout_is_30_minutes(web: Web) -> None:
    web.login("inv1")
    web.clock.advance(minutes=29, seconds=59)
    assert web.client.get(ME).status_code == 200  # activity resets the idle clock
    web.clock.advance(minutes=29, seconds=59)
    assert web.client.get(ME).status_code == 200
    web.clock.advance(minutes=30)
    assert web.client.get(ME).status_code == 401
    web.clock.advance(seconds=1)
    assert web.client.get(ME).status_code == 401  # stays ended


def test_absolute_timeout_is_12_hours_despite_activity(web: Web) -> None:
    web.login("inv1")
    for _ in range(47):  # 47 × 15 min = 11 h 45 min, active all along
        web.clock.advance(minutes=15)
        assert web.client.get(ME).status_code == 200
    web.clock.advance(minutes=15)  # 12 h
    assert web.client.get(ME).status_code == 401


def test_logout_then_replayed_cookie_is_refused(web: Web) -> None:
    csrf = web.login("inv1")
    cookie = web.client.cookies["tt_session"]
    assert web.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    replay = web.new_client()
    replay.cookies.set("tt_session", cookie)
    assert replay.get(ME).status_code == 401
    assert replay.get(f"/api/v1/studies/{STUDY}/subjects").status_code == 401
    assert "session_end" in _events(web, "inv1")


def test_disabling_a_user_ends_their_sessions_at_the_next_request(web: Web) -> None:
    web.login("inv1")
    assert web.client.get(ME).status_code == 200
    with web.db.read_session() as s:
        admin = s.execute(select(User.id).where(User.username == "admin")).scalar_one()
    deactivate_user(web.db, "inv1", reason="left the site", actor=admin, clock=web.clock)
    assert web.client.get(ME).status_code == 401


def test_revoking_a_role_applies_at_the_next_request(web: Web) -> None:
    web.login("inv1")
    url = f"/api/v1/studies/{STUDY}/subjects"
    assert web.client.get(url).status_code == 200
    with web.db.read_session() as s:
        admin = s.execute(select(User.id).where(User.username == "admin")).scalar_one()
        user = s.execute(select(User.id).where(User.username == "inv1")).scalar_one()
        grant = s.execute(select(RoleAssignment.id).where(RoleAssignment.user_id == user)).scalar_one()
    revoke_role(web.db, grant, reason="role ended", actor=admin, clock=web.clock)
    assert web.client.get(url).status_code == 403


def test_ten_failures_lock_the_account_and_are_logged(web: Web) -> None:
    for n in range(1, 11):
        r = web.client.post("/api/v1/session", json={"username": "inv1", "password": "wrong password!!"})
        if n < 10:
            assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
        else:  # the 10th failure locks the account
            assert r.status_code == 429 and "locked" in r.json()["detail"]
    r = web.client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD})
    assert r.status_code == 429  # locked even with the right password
    events = _events(web, "inv1")
    assert events.count("login_failed") == 10 and "login_locked" in events
    web.clock.advance(minutes=16)  # the 15-minute window has passed
    assert web.client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD}).status_code == 200
    assert "login_ok" in _events(web, "inv1")


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(web: Web) -> None:
    a = web.client.post("/api/v1/session", json={"username": "nobody", "password": "whatever password"})
    b = web.client.post("/api/v1/session", json={"username": "inv1", "password": "whatever password"})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_no_credentials_is_401_for_the_api(web: Web) -> None:
    r = web.client.get(f"/api/v1/studies/{STUDY}")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
