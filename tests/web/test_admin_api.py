"""Account administration over HTTP (policy action ``admin.users``): the access review (B6, C6), account
creation with the password policy (G17) and never-reused usernames (C4), grants and revocations, password
resets, disabling and enabling, the security log, and their audit entries (A6). B5: a revoked role or a
disabled account applies at the user's very next request, for browser sessions and API tokens alike.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _web import PASSWORD, STUDY, USERS, Web
from sqlalchemy import select

from trialtwin.store.tables import AuditLog

ADMIN = f"/api/v1/studies/{STUDY}/admin"
NEW_PASSWORD = "velvet walrus juggles amber teacups"


def _admin(web: Web) -> dict[str, str]:
    return web.bearer("admin")


def _review(web: Web) -> dict[str, dict[str, Any]]:
    r = web.client.get(f"{ADMIN}/users", headers=_admin(web))
    assert r.status_code == 200, r.text
    return {u["username"]: u for u in r.json()}


def _audit(web: Web, table: str) -> list[AuditLog]:
    with web.db.read_session() as s:
        return list(s.execute(select(AuditLog).where(AuditLog.table_name == table).order_by(AuditLog.seq)).scalars())


def _events(web: Web, username: str) -> list[dict[str, Any]]:
    r = web.client.get(f"{ADMIN}/security-log", params={"username": username}, headers=_admin(web))
    assert r.status_code == 200, r.text
    return list(r.json())


def _create(web: Web, username: str, password: str = NEW_PASSWORD, **extra: str) -> Any:
    body = {"username": username, "display_name": f"{username.title()} New", "password": password, **extra}
    return web.client.post(f"{ADMIN}/users", json=body, headers=_admin(web))


def test_access_review_lists_every_account_and_grant_with_who_and_when(web: Web) -> None:
    web.login("inv1")  # a last login to show
    review = _review(web)
    assert set(review) == {"admin", *USERS}
    for username, (role, site) in USERS.items():
        grants = review[username]["grants"]
        assert [(g["role"], g["site"], g["active"], g["granted_by"]) for g in grants] == [(role, site, True, "admin")]
        assert grants[0]["granted_at"] == "2025-03-01T08:00:00Z"  # the seeding clock (tests/web/_web.py)
        assert review[username]["active"] is True
    assert review["admin"]["grants"][0]["role"] == "admin" and review["admin"]["grants"][0]["site"] is None
    assert review["inv1"]["last_login_at"] == "2025-03-03T09:00:00Z"  # the app clock (_web.START)
    assert review["inv2"]["last_login_at"] is None
    assert all("password" not in json.dumps(u) for u in review.values())


def test_create_user_applies_the_password_policy_and_is_audited(web: Web) -> None:
    r = _create(web, "nora")
    assert r.status_code == 201, r.text
    assert r.json()["username"] == "nora" and r.json()["grants"] == [] and r.json()["active"] is True
    created = [json.loads(a.new_value) for a in _audit(web, "users") if a.action == "create"]
    assert created[-1]["username"] == "nora" and created[-1]["password_hash"] == "[redacted]"
    assert "user_created" in [e["event"] for e in _events(web, "nora")]
    # the new account logs in
    assert web.client.post("/api/v1/session", json={"username": "nora", "password": NEW_PASSWORD}).status_code == 200
    for password, words in (
        ("password1234", "breached"),  # zxcvbn passwords list
        ("qwerty123456", "3,000 most common"),  # rank 1,849 of the zxcvbn passwords list
        ("short pass!", "12 to 1024 characters (got 11)"),
        ("pia velvet walrus", "username"),
    ):
        r = _create(web, "pia", password)
        assert r.status_code == 422, r.text
        (problem,) = r.json()["detail"]
        assert problem["loc"] == ["body", "password"] and words in problem["msg"] and password not in r.text
    assert _create(web, "pia", "p" * 64 + " velvet").status_code == 201  # long passwords accepted


def test_usernames_are_never_reused_even_after_disabling(web: Web) -> None:
    assert _create(web, "olaf").status_code == 201
    again = _create(web, "olaf")
    assert again.status_code == 409 and "never reused" in again.json()["detail"]
    r = web.client.post(f"{ADMIN}/users/olaf/disable", json={"reason": "left"}, headers=_admin(web))
    assert r.status_code == 200 and r.json()["active"] is False
    assert _create(web, "olaf").status_code == 409
    assert _create(web, "OLAF").status_code == 409  # not even with other capitals
    bad = _create(web, "-x")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "username"]


def test_grant_then_revoke_applies_at_the_next_request_for_sessions_and_tokens(web: Web) -> None:
    assert _create(web, "gina").status_code == 201
    r = web.client.post(
        f"{ADMIN}/users/gina/roles", json={"role": "coordinator", "site": "CN-002"}, headers=_admin(web)
    )
    assert r.status_code == 201, r.text
    grant = r.json()
    assert (grant["role"], grant["site"], grant["study_id"], grant["granted_by"]) == (
        "coordinator",
        "CN-002",
        STUDY,
        "admin",
    )
    browser = web.new_client()
    assert browser.post("/api/v1/session", json={"username": "gina", "password": NEW_PASSWORD}).status_code == 200
    t = web.client.post("/api/v1/tokens", json={"username": "gina", "password": NEW_PASSWORD, "study_id": STUDY})
    token = {"Authorization": f"Bearer {t.json()['token']}"}
    subjects = f"/api/v1/studies/{STUDY}/subjects"
    assert browser.get(subjects).status_code == 200 and web.client.get(subjects, headers=token).status_code == 200
    r = web.client.post(f"{ADMIN}/roles/{grant['id']}/revoke", json={"reason": "moved site"}, headers=_admin(web))
    assert r.status_code == 200 and r.json()["grants"][0]["active"] is False
    assert browser.get(subjects).status_code == 403  # the very next request
    assert web.client.get(subjects, headers=token).status_code == 403
    again = web.client.post(f"{ADMIN}/roles/{grant['id']}/revoke", json={"reason": "x"}, headers=_admin(web))
    assert again.status_code == 409
    assert web.client.post(f"{ADMIN}/roles/999999/revoke", json={"reason": "x"}, headers=_admin(web)).status_code == 404
    # audited: the grant's creation, then its revocation with the reason; both in the security log too
    audit = [a for a in _audit(web, "role_assignments") if a.record_id == str(grant["id"])]
    assert [(a.action, a.reason) for a in audit] == [("create", None), ("update", "moved site")]
    assert {"role_granted", "role_revoked"} <= {e["event"] for e in _events(web, "gina")}
    # the review keeps the revoked grant, inactive, with who granted it
    (kept,) = _review(web)["gina"]["grants"]
    assert kept["active"] is False and kept["granted_by"] == "admin"
    assert (kept["revoked_by"], kept["revoke_reason"], kept["revoked_at"]) == (
        "admin",
        "moved site",
        "2025-03-03T09:00:00Z",
    )


def test_bad_grants_name_the_field(web: Web) -> None:
    h = _admin(web)
    r = web.client.post(f"{ADMIN}/users/inv1/roles", json={"role": "wizard"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "role"]
    r = web.client.post(f"{ADMIN}/users/inv1/roles", json={"role": "monitor", "site": "XX-999"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "site"]
    assert web.client.post(f"{ADMIN}/users/nobody/roles", json={"role": "monitor"}, headers=h).status_code == 404
    r = web.client.post(f"{ADMIN}/users/inv1/disable", json={"reason": "  "}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]


def test_disabling_ends_sessions_and_tokens_and_enabling_does_not_revive_them(web: Web) -> None:
    browser = web.new_client()
    assert browser.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD}).status_code == 200
    token = web.bearer("inv1")
    subjects = f"/api/v1/studies/{STUDY}/subjects"
    assert browser.get(subjects).status_code == 200 and web.client.get(subjects, headers=token).status_code == 200
    r = web.client.post(f"{ADMIN}/users/inv1/disable", json={"reason": "left the trial"}, headers=_admin(web))
    assert r.status_code == 200 and r.json()["active"] is False
    assert browser.get(subjects).status_code == 401
    assert web.client.get(subjects, headers=token).status_code == 401
    assert web.client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD}).status_code == 401
    r = web.client.post(f"{ADMIN}/users/inv1/enable", json={"reason": "came back"}, headers=_admin(web))
    assert r.status_code == 200 and r.json()["active"] is True
    assert browser.get(subjects).status_code == 401  # the old session stays ended
    assert web.client.get(subjects, headers=token).status_code == 401  # the old token stays revoked
    fresh = web.new_client()
    assert fresh.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD}).status_code == 200
    assert fresh.get(subjects).status_code == 200
    updates = [(a.fields, a.reason) for a in _audit(web, "users") if a.action == "update"]
    assert updates[-2:] == [("active", "left the trial"), ("active", "came back")]
    events = [e["event"] for e in _events(web, "inv1")]
    assert {"user_disabled", "user_enabled", "session_end"} <= set(events)
    # disabling twice, enabling an active account, or an administrator disabling themselves: 409
    h = _admin(web)
    assert web.client.post(f"{ADMIN}/users/inv1/enable", json={"reason": "x"}, headers=h).status_code == 409
    assert web.client.post(f"{ADMIN}/users/admin/disable", json={"reason": "x"}, headers=h).status_code == 409


def test_a_password_reset_ends_sessions_and_tokens_and_the_new_password_logs_in(web: Web) -> None:
    """An administrator sets a user's forgotten password with a reason (ASVS 7.4.3: the user's sessions end and
    API tokens are revoked; A6: audited, hash redacted, and in the security log)."""
    browser = web.new_client()
    assert browser.post("/api/v1/session", json={"username": "coord1", "password": PASSWORD}).status_code == 200
    token = web.bearer("coord1")
    subjects = f"/api/v1/studies/{STUDY}/subjects"
    assert browser.get(subjects).status_code == 200
    body = {"password": NEW_PASSWORD, "reason": "forgot it (ticket 12)"}
    r = web.client.post(f"{ADMIN}/users/coord1/password", json=body, headers=_admin(web))
    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["username"], done["sessions_ended"], done["tokens_revoked"]) == ("coord1", 1, 1)
    assert NEW_PASSWORD not in r.text
    assert browser.get(subjects).status_code == 401 and web.client.get(subjects, headers=token).status_code == 401
    old = web.client.post("/api/v1/session", json={"username": "coord1", "password": PASSWORD})
    assert old.status_code == 401
    new = web.new_client()
    assert new.post("/api/v1/session", json={"username": "coord1", "password": NEW_PASSWORD}).status_code == 200
    assert new.get("/api/v1/me").json()["must_change_password"] is True
    (update,) = [a for a in _audit(web, "users") if a.action == "update" and a.reason == "forgot it (ticket 12)"]
    assert update.fields == "must_change_password,password_hash"
    assert json.loads(update.new_value) == {"password_hash": "[redacted]", "must_change_password": True}
    (event,) = [e for e in _events(web, "coord1") if e["event"] == "password_reset"]
    assert "forgot it (ticket 12)" in event["detail"] and NEW_PASSWORD not in json.dumps(_events(web, "coord1"))


def test_after_a_reset_the_user_must_choose_their_own_password_before_anything_else(web: Web) -> None:
    """The password an administrator passed on is used once (ASVS 5.0 6.4.1: a temporary password must be
    changed at first use; 21 CFR 11.300(b)): with it the user may log in, see /me and change the password, and
    every other route answers 403 naming /me/password (cookie and token alike), until they have chosen their own.
    A page redirects to the password page, which says why."""
    body = {"password": NEW_PASSWORD, "reason": "forgot it"}
    assert web.client.post(f"{ADMIN}/users/coord2/password", json=body, headers=_admin(web)).status_code == 200
    browser = web.new_client()
    login = browser.post("/api/v1/session", json={"username": "coord2", "password": NEW_PASSWORD})
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    token = web.client.post("/api/v1/tokens", json={"username": "coord2", "password": NEW_PASSWORD, "study_id": STUDY})
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    subjects = f"/api/v1/studies/{STUDY}/subjects"
    for client, headers in ((browser, {}), (web.client, bearer)):
        refused = client.get(subjects, headers=headers)
        assert refused.status_code == 403 and "/api/v1/me/password" in refused.json()["detail"]
        assert client.get("/api/v1/me", headers=headers).json()["must_change_password"] is True
    page = browser.get(f"/studies/{STUDY}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/account/password?required=1"
    assert 'id="password-required"' in browser.get("/account/password?required=1").text
    chosen = "amber teacups juggle velvet walruses"
    change = {"current_password": NEW_PASSWORD, "new_password": chosen}
    assert browser.post("/api/v1/me/password", json=change, headers=csrf).status_code == 200
    assert browser.get(subjects).status_code == 200
    assert browser.get("/api/v1/me").json()["must_change_password"] is False
    assert 'id="password-required"' not in browser.get("/account/password").text
    (cleared,) = [a for a in _audit(web, "users") if a.reason == "password changed by the account holder"]
    assert json.loads(cleared.new_value) == {"password_hash": "[redacted]", "must_change_password": False}


def test_a_bad_password_reset_names_the_field_and_changes_nothing(web: Web) -> None:
    h = _admin(web)
    weak = web.client.post(
        f"{ADMIN}/users/coord1/password", json={"password": "password1234", "reason": "x"}, headers=h
    )
    assert weak.status_code == 422 and weak.json()["detail"][0]["loc"] == ["body", "password"]
    blank = web.client.post(f"{ADMIN}/users/coord1/password", json={"password": NEW_PASSWORD, "reason": " "}, headers=h)
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "reason"]
    unknown = web.client.post(
        f"{ADMIN}/users/nobody/password", json={"password": NEW_PASSWORD, "reason": "x"}, headers=h
    )
    assert unknown.status_code == 404
    own = web.client.post(f"{ADMIN}/users/admin/password", json={"password": NEW_PASSWORD, "reason": "x"}, headers=h)
    assert own.status_code == 409 and "/me/password" in own.json()["detail"]
    other = web.client.post(
        f"{ADMIN}/users/inv1/password", json={"password": NEW_PASSWORD, "reason": "x"}, headers=web.bearer("monitor")
    )
    assert other.status_code == 403
    assert web.client.post("/api/v1/session", json={"username": "coord1", "password": PASSWORD}).status_code == 200
    assert not [a for a in _audit(web, "users") if a.action == "update"]


def test_security_log_shows_failed_logins_and_lockouts(web: Web) -> None:
    for _ in range(11):
        web.client.post("/api/v1/session", json={"username": "coord2", "password": "not the password"})
    events = [e["event"] for e in _events(web, "coord2")]
    assert events.count("login_failed") == 10 and "login_locked" in events
    assert all("not the password" not in e["detail"] for e in _events(web, "coord2"))
    r = web.client.get(f"{ADMIN}/security-log", params={"limit": 3}, headers=_admin(web))
    assert r.status_code == 200 and len(r.json()) == 3


def test_only_administrators_and_cookie_writes_need_csrf(web: Web) -> None:
    assert web.client.get(f"{ADMIN}/users", headers=web.bearer("monitor")).status_code == 403
    assert web.client.get(f"{ADMIN}/users").status_code == 401
    web.login("admin")
    r = web.client.post(f"{ADMIN}/users", json={"username": "csrf", "display_name": "C", "password": NEW_PASSWORD})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]


def test_cli_access_review_prints_every_grant(web: Web, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from trialtwin.cli.console import console
    from trialtwin.cli.main import app

    monkeypatch.setattr(console, "width", 200)  # the shared console's width is fixed when it is made

    web.client.post(f"{ADMIN}/users/inv2/disable", json={"reason": "left"}, headers=_admin(web))
    grant = _review(web)["coord2"]["grants"][0]["id"]
    web.client.post(f"{ADMIN}/roles/{grant}/revoke", json={"reason": "moved"}, headers=_admin(web))
    url = web.db.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["users", "review", "--db", url, "--study", STUDY, "--json"])
    assert result.exit_code == 0, result.output
    rows = {u["username"]: u for u in json.loads(result.stdout)}
    assert set(rows) == {"admin", *USERS} and rows["inv2"]["active"] is False
    assert rows["coord1"]["grants"][0]["site"] == "CN-001" and rows["coord1"]["grants"][0]["granted_by"] == "admin"
    table = CliRunner().invoke(app, ["users", "review", "--db", url])
    assert table.exit_code == 0 and "disabled" in table.stdout and "ever-132-002/CN-002" in table.stdout
    assert "revoked 2025-03-03 09:00:00 by admin" in table.stdout
    missing = CliRunner().invoke(app, ["users", "review", "--db", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert missing.exit_code == 2 and "migrated trialtwin database" in missing.output
    target = tmp_path / "demo.db"
    weak = CliRunner().invoke(app, ["demo-data", "--db", f"sqlite:///{target}", "--password", "password1234"])
    assert weak.exit_code == 2 and "breached" in weak.output and not target.exists()


def test_fuzzed_admin_requests_as_an_administrator_never_give_a_server_error(web: Web) -> None:
    """The suite-wide schemathesis run sends non-admin tokens (403 on these routes); here the admin routes are
    fuzzed with an administrator's token so the requests reach the account services."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", web.app)
    operations = [r.ok() for r in schema.get_all_operations() if "/admin/" in r.ok().path]
    assert len(operations) == 8
    headers = _admin(web)
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy(), real=st.booleans())
        @settings(
            max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        def run(case: Any, real: bool) -> None:
            if real and case.path_parameters and "study_id" in case.path_parameters:
                case.path_parameters["study_id"] = STUDY
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        run()
    assert all(s < 500 for s in statuses) and {200, 422} <= set(statuses)
