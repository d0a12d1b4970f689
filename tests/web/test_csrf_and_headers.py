"""CSRF on every state-changing route (G14; ASVS 3.5.1, 3.5.3) and security headers (G15; ASVS 3.4.x)."""

from __future__ import annotations

import re

from _web import PASSWORD, STUDY, Web
from sqlalchemy import func, select

from trialtwin.store.tables import AuditLog
from trialtwin.web.policy import POLICY, walk_routes
from trialtwin.web.security import HSTS

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _url(path: str, subject: str) -> str:
    return re.sub(r"{([^}:]+)(?::[^}]*)?}", lambda m: {"study_id": STUDY}.get(m.group(1), subject), path)


def _audit_count(web: Web) -> int:
    with web.db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(AuditLog)).scalar_one())


def test_every_state_changing_route_rejects_a_missing_or_wrong_csrf_token(web: Web) -> None:
    """Logged in as the site investigator (allowed nearly everywhere): without the token, or with a wrong one,
    every unsafe route that needs a login answers 403 and nothing is written."""
    web.login("inv1")
    subject = web.subjects["CN-001"]["eligible"]
    routes = [e for e in walk_routes(web.app) if e.method in UNSAFE and POLICY[e.action or "public"].scope != "public"]
    assert len(routes) >= 8
    before = _audit_count(web)
    for entry in routes:
        url = _url(entry.path, subject)
        for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
            body = {"site": "CN-001"} if entry.path.endswith("/subjects") else {"csrf_token": "wrong"}
            r = web.client.request(entry.method, url, json=body, headers=headers)
            assert r.status_code == 403, (entry.method, url, headers, r.status_code, r.text)
            r = web.client.request(entry.method, url, data={"csrf_token": "wrong"}, headers=headers)
            assert r.status_code == 403, (entry.method, url, "form", r.status_code, r.text)
    assert _audit_count(web) == before
    assert web.client.get("/api/v1/me").status_code == 200  # the session survived (logout was refused too)


def test_the_right_token_in_the_header_or_the_form_field_is_accepted(web: Web) -> None:
    csrf = web.login("inv1")
    url = f"/api/v1/studies/{STUDY}/subjects"
    assert web.client.post(url, json={"site": "CN-001"}, headers={"X-CSRF-Token": csrf}).status_code == 201
    # form field: the logout route takes no body, so the form field alone must do
    r = web.client.request("DELETE", "/api/v1/session", data={"csrf_token": csrf})
    assert r.status_code == 204


def test_bearer_token_requests_need_no_csrf_token(web: Web) -> None:
    r = web.client.post(f"/api/v1/studies/{STUDY}/subjects", json={"site": "CN-001"}, headers=web.bearer("inv1"))
    assert r.status_code == 201


def test_get_and_head_never_change_state(web: Web) -> None:
    web.login("inv1")
    subject = web.subjects["CN-001"]["eligible"]
    before = _audit_count(web)
    for entry in walk_routes(web.app):
        if entry.method == "GET":
            url = _url(entry.path, subject)
            web.client.get(url)
            web.client.head(url)
    assert _audit_count(web) == before


def test_security_headers_on_html_json_and_error_responses(web: Web) -> None:
    for r in (
        web.client.get("/api/v1/health"),
        web.client.get("/api/v1/me"),  # 401
        web.client.get("/no-such-page"),  # 404
    ):
        csp = r.headers["content-security-policy"]
        for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
            assert directive in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS
    html = web.client.get("/no-such-page")
    assert html.headers["content-type"].startswith(("text/html", "application/json"))


def test_hsts_behind_tls(secure_web: Web) -> None:
    r = secure_web.client.get("/api/v1/health")
    assert r.headers["strict-transport-security"] == HSTS
    assert int(re.search(r"max-age=(\d+)", HSTS).group(1)) >= 31_536_000  # type: ignore[union-attr]


def test_login_page_flow_password_is_never_echoed(web: Web) -> None:
    r = web.client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD})
    assert PASSWORD not in r.text


def test_every_get_route_answers_with_the_security_headers(web: Web) -> None:
    """G15 over the route table: every page and API answer, logged in or not, carries CSP, nosniff and
    Referrer-Policy."""
    web.login("inv1")
    anonymous = web.new_client(follow_redirects=False)
    subject = web.subjects["CN-001"]["randomized"]
    checked = 0
    for entry in walk_routes(web.app):
        if entry.method != "GET" or "{" in entry.path.replace("{study_id}", "").replace("{screening_id}", ""):
            continue
        for client in (web.client, anonymous):
            r = client.get(_url(entry.path, subject))
            assert "frame-ancestors 'none'" in r.headers.get("content-security-policy", ""), entry.path
            assert r.headers.get("x-content-type-options") == "nosniff", entry.path
            assert r.headers.get("referrer-policy") == "same-origin", entry.path
            checked += 1
    assert checked >= 20
