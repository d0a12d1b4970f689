"""Changing one's own password over HTTP: ``POST /api/v1/me/password`` and the page ``/account/password``
(policy action ``account.password``: any logged-in user, own account only).

Sources: 21 CFR 11.300(b) (passwords periodically revised); OWASP ASVS 5.0 6.2.3 (current and new password
required), 6.3.1 and requirement G17 (a wrong current password counts like a failed login; the 10th failure
within 15 minutes locks: 429), 7.4.3 (the user's other sessions end and their API tokens are revoked; B5), 3.5.1
(CSRF on cookie requests; G14), 6.2.x (the policy of ``services.passwords``: 422 naming ``new_password``); A6
(the change is in the audit trail and the security log, with no password).
"""

from __future__ import annotations

import re
from typing import Any

from _web import PASSWORD, STUDY, Web
from fastapi.testclient import TestClient
from sqlalchemy import select

from trialtwin.store.tables import AuditLog

URL = "/api/v1/me/password"
PAGE = "/account/password"
NEW = "velvet walrus juggles amber teacups"
SUBJECTS = f"/api/v1/studies/{STUDY}/subjects"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def _session(web: Web, username: str = "inv1", password: str = PASSWORD) -> tuple[TestClient, str]:
    client = web.new_client(follow_redirects=False)
    r = client.post("/api/v1/session", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return client, str(r.json()["csrf_token"])


def _events(web: Web, username: str) -> list[dict[str, Any]]:
    r = web.client.get(
        f"/api/v1/studies/{STUDY}/admin/security-log", params={"username": username}, headers=web.bearer("admin")
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _password_updates(web: Web) -> list[AuditLog]:
    with web.db.read_session() as s:
        query = select(AuditLog).where(AuditLog.table_name == "users", AuditLog.fields == "password_hash")
        return list(s.execute(query).scalars())


def _login_status(web: Web, username: str, password: str) -> int:
    r = web.new_client().post("/api/v1/session", json={"username": username, "password": password})
    return r.status_code


# ---- API -------------------------------------------------------------------------------------------------------


def test_a_change_ends_other_sessions_and_tokens_keeps_this_one_and_is_audited(web: Web) -> None:
    mine, csrf = _session(web)
    other, _ = _session(web)
    token = web.bearer("inv1")
    bystander = web.bearer("coord1")  # another user's token: untouched
    assert other.get(SUBJECTS).status_code == 200 and web.client.get(SUBJECTS, headers=token).status_code == 200
    r = mine.post(URL, json={"current_password": PASSWORD, "new_password": NEW}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["sessions_ended"], body["tokens_revoked"]) == (1, 1)
    assert body["changed_at"].startswith("2025-03-03T09:00:00")  # the server clock of the test app (_web.START)
    assert mine.get(SUBJECTS).status_code == 200  # the browser that changed it stays logged in
    assert other.get(SUBJECTS).status_code == 401  # ASVS 7.4.3
    assert web.client.get(SUBJECTS, headers=token).status_code == 401
    assert web.client.get(SUBJECTS, headers=bystander).status_code == 200
    assert _login_status(web, "inv1", NEW) == 200 and _login_status(web, "inv1", PASSWORD) == 401
    (entry,) = _password_updates(web)
    assert entry.action == "update" and entry.reason == "password changed by the account holder"
    assert "[redacted]" in entry.new_value and "argon2" not in entry.new_value + (entry.old_value or "")
    events = _events(web, "inv1")
    changed = [e for e in events if e["event"] == "password_changed"]
    assert len(changed) == 1 and "1 other session(s) ended, 1 token(s) revoked" in changed[0]["detail"]
    assert not any(PASSWORD in e["detail"] or NEW in e["detail"] for e in events)


def test_a_change_made_with_an_api_token_revokes_that_token_too(web: Web) -> None:
    browser, _ = _session(web, "monitor")
    token = web.bearer("monitor")
    r = web.client.post(URL, json={"current_password": PASSWORD, "new_password": NEW}, headers=token)
    assert r.status_code == 200 and (r.json()["sessions_ended"], r.json()["tokens_revoked"]) == (1, 1)
    assert web.client.get(SUBJECTS, headers=token).status_code == 401
    assert browser.get(SUBJECTS).status_code == 401


def test_a_wrong_current_password_is_403_logged_and_counted_toward_the_lock(web: Web) -> None:
    mine, csrf = _session(web, "coord1")
    other, _ = _session(web, "coord1")
    h = {"X-CSRF-Token": csrf}
    r = mine.post(URL, json={"current_password": "not the password", "new_password": NEW}, headers=h)
    assert r.status_code == 403 and r.json()["detail"] == "the current password is wrong"
    assert other.get(SUBJECTS).status_code == 200  # nothing ended
    assert not _password_updates(web)
    failed = [e for e in _events(web, "coord1") if e["event"] == "login_failed"]
    assert [e["detail"] for e in failed] == ["password_change: wrong password"]
    for n in range(2, 11):  # sessions.MAX_FAILURES = 10: the 10th failure locks (ASVS 6.3.1; G17)
        r = mine.post(URL, json={"current_password": f"wrong password {n}", "new_password": NEW}, headers=h)
        assert r.status_code == (403 if n < 10 else 429), (n, r.text)
    assert r.headers["retry-after"] == "900"
    r = mine.post(URL, json={"current_password": PASSWORD, "new_password": NEW}, headers=h)
    assert r.status_code == 429  # locked: the right password is not even checked
    assert _login_status(web, "coord1", PASSWORD) == 429  # and logging in is locked as well
    web.clock.advance(minutes=16)
    r = mine.post(URL, json={"current_password": PASSWORD, "new_password": NEW}, headers=h)
    assert r.status_code == 200, r.text


def test_policy_refusals_are_422_naming_new_password_with_the_reason(web: Web) -> None:
    mine, csrf = _session(web, "inv2")
    h = {"X-CSRF-Token": csrf}
    cases = {
        "too short": "12 to 1024 characters (got 9)",
        "password1234": "breached",  # the zxcvbn list (tests/unit/services/test_passwords.py)
        "i am inv2 with a long phrase": "username",
        PASSWORD: "differ from the current one",
    }
    for new, reason in cases.items():
        r = mine.post(URL, json={"current_password": PASSWORD, "new_password": new}, headers=h)
        assert r.status_code == 422, (new, r.text)
        (problem,) = r.json()["detail"]
        assert problem["loc"] == ["body", "new_password"] and reason in problem["msg"], problem
        assert new not in problem["msg"]
    r = mine.post(URL, json={"current_password": PASSWORD, "new_password": "x" * 1025}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "new_password"]
    r = mine.post(URL, json={"current_password": PASSWORD}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "new_password"]
    assert not _password_updates(web) and _login_status(web, "inv2", PASSWORD) == 200


def test_login_and_csrf_are_required(web: Web) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW}
    assert web.new_client().post(URL, json=body).status_code == 401
    mine, _ = _session(web)
    r = mine.post(URL, json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert not _password_updates(web)


# ---- page ------------------------------------------------------------------------------------------------------


def _page_csrf(client: TestClient) -> str:
    page = client.get(PAGE)
    assert page.status_code == 200, page.text
    found = CSRF_META.search(page.text)
    assert found is not None
    return found.group(1)


def test_the_page_is_linked_from_the_header_and_changes_the_password(web: Web) -> None:
    mine, _ = _session(web, "datamanager")
    other, _ = _session(web, "datamanager")
    start = mine.get(f"/studies/{STUDY}")
    assert start.status_code == 200 and 'href="/account/password" id="password-link"' in start.text
    csrf = _page_csrf(mine)
    form = {"csrf_token": csrf, "current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW}
    r = mine.post(PAGE, data=form)
    assert r.status_code == 303 and r.headers["location"] == PAGE + "?changed=1"
    done = mine.get(r.headers["location"])
    assert done.status_code == 200 and 'id="password-changed"' in done.text
    assert NEW not in done.text and PASSWORD not in done.text
    assert other.get(f"/studies/{STUDY}").status_code == 303  # the other session ended: to the login page
    assert _login_status(web, "datamanager", NEW) == 200


def test_the_page_shows_each_error_at_its_field(web: Web) -> None:
    mine, _ = _session(web, "statistician")
    csrf = _page_csrf(mine)

    def post(current: str, new: str, confirm: str) -> Any:
        data = {"csrf_token": csrf, "current_password": current, "new_password": new, "confirm_password": confirm}
        return mine.post(PAGE, data=data)

    cases = [
        (("", NEW, NEW), 422, "current_password", "is required"),
        ((PASSWORD, NEW, NEW + "!"), 422, "confirm_password", "does not match"),
        ((PASSWORD, "password1234", "password1234"), 422, "new_password", "breached"),
        (("wrong password 1", NEW, NEW), 403, "current_password", "the current password is wrong"),
    ]
    for (current, new, confirm), status, field, message in cases:
        r = post(current, new, confirm)
        assert r.status_code == status, (field, r.text[:300])
        error = re.search(rf'<p class="field-error" id="err-{field}" role="alert">([^<]*)</p>', r.text)
        assert error is not None and message in error.group(1), (field, r.text[:2000])
        assert all(secret not in r.text for secret in {current, new, confirm} - {""})  # never echoed
    r = mine.post(PAGE, data={"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW})
    assert r.status_code == 403  # no CSRF field
    assert not _password_updates(web)
    assert web.new_client(follow_redirects=False).get(PAGE).status_code == 303  # anonymous: to the login page
