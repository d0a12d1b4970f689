"""Login, logout and the anonymous redirect of every page (trial-system-requirements G10/G14; ASVS 3.5.1, 6.3.8)."""

from __future__ import annotations

import re
from collections.abc import Callable

from _pages import LOGIN_TOKEN, Browser
from _web import PASSWORD, STUDY, Web
from fastapi import FastAPI

from trialtwin.web.pages import router
from trialtwin.web.policy import walk_routes


def _page_paths() -> list[tuple[str, str]]:
    """Every page route with concrete ids (method, path), the public login page excepted."""
    app = FastAPI()
    app.include_router(router)
    out = []
    for entry in walk_routes(app):
        if entry.path == "/login":
            continue
        path = entry.path.replace("{study_id}", STUDY).replace("{screening_id}", "CN-001-S001")
        out.append((entry.method, path))
    return out


PAGES = _page_paths()


def test_the_router_has_the_pages_of_the_brief() -> None:
    paths = {p for _, p in PAGES}
    for expected in (
        "/",
        "/logout",
        f"/studies/{STUDY}",
        f"/studies/{STUDY}/audit",
        f"/studies/{STUDY}/export",
        f"/studies/{STUDY}/eligibility/preview",
    ):
        assert expected in paths
    subject = f"/studies/{STUDY}/subjects/CN-001-S001"
    for suffix in (
        "",
        "/consent",
        "/eligibility",
        "/randomization",
        "/visits/new",
        "/visits",
        "/baseline",
        "/assessments/new",
        "/assessments",
        "/adverse-events/new",
        "/adverse-events",
        "/end-of-treatment",
        "/death",
        "/sign",
        "/audit",
    ):
        assert subject + suffix in paths, suffix


def test_anonymous_get_is_sent_to_the_login_page(web: Web) -> None:
    gets = [path for method, path in PAGES if method == "GET"]
    assert len(gets) >= 15
    for path in gets:
        r = web.client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path


def test_anonymous_post_is_refused_and_writes_nothing(web: Web) -> None:
    posts = [path for method, path in PAGES if method == "POST"]
    assert len(posts) >= 12
    before = web.client.get(f"/api/v1/studies/{STUDY}/subjects", headers=web.bearer("monitor")).json()
    for path in posts:
        r = web.client.post(path, data={"site": "CN-001", "csrf_token": "x"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    after = web.client.get(f"/api/v1/studies/{STUDY}/subjects", headers=web.bearer("monitor")).json()
    assert after == before


def _login_token(web: Web) -> str:
    page = web.client.get("/login")
    found = LOGIN_TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def test_login_form_logs_in_and_goes_to_next(web: Web) -> None:
    token = _login_token(web)
    target = f"/studies/{STUDY}/subjects/{web.subjects['CN-001']['registered']}"
    r = web.client.post("/login", data={"username": "inv1", "password": PASSWORD, "csrf_token": token, "next": target})
    assert r.status_code == 303 and r.headers["location"] == target
    page = web.client.get(target)
    assert page.status_code == 200
    assert "Inv1 Person" in page.text  # the display name in the header


def test_login_never_redirects_to_another_site(web: Web) -> None:
    token = _login_token(web)
    r = web.client.post(
        "/login", data={"username": "inv1", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_wrong_password_rerenders_the_form_with_401_and_no_session(web: Web) -> None:
    token = _login_token(web)
    r = web.client.post("/login", data={"username": "inv1", "password": "not the password", "csrf_token": token})
    assert r.status_code == 401
    assert "wrong username or password" in r.text
    assert 'value="inv1"' in r.text  # the username is kept, the password never echoed
    assert "not the password" not in r.text
    assert web.client.get(f"/studies/{STUDY}").status_code == 303


def test_empty_fields_are_named(web: Web) -> None:
    token = _login_token(web)
    r = web.client.post("/login", data={"username": "", "password": "", "csrf_token": token})
    assert r.status_code == 422
    assert 'id="err-username"' in r.text and 'id="err-password"' in r.text


def test_login_without_the_form_token_is_refused(web: Web) -> None:
    _login_token(web)
    r = web.client.post("/login", data={"username": "inv1", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    assert web.client.get(f"/studies/{STUDY}").status_code == 303


def test_logout_ends_the_session(browser: Callable[[str], Browser]) -> None:
    b = browser("inv1")
    assert b.get(f"/studies/{STUDY}").status_code == 200
    r = b.post("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert b.get(f"/studies/{STUDY}").status_code == 303


def test_logout_needs_the_csrf_token(browser: Callable[[str], Browser]) -> None:
    b = browser("inv1")
    r = b.client.post("/logout", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    assert b.get(f"/studies/{STUDY}").status_code == 200


def test_start_page_goes_to_the_only_study(browser: Callable[[str], Browser]) -> None:
    r = browser("monitor").get("/")
    assert r.status_code == 303 and r.headers["location"] == f"/studies/{STUDY}"


def test_pages_have_no_inline_script_style_or_handler(browser: Callable[[str], Browser], web: Web) -> None:
    """CSP script-src/style-src 'self' (G15): no inline <script>, style attribute or on* handler anywhere."""
    b = browser("inv1")
    sid = web.subjects["CN-001"]["randomized"]
    for path in (
        f"/studies/{STUDY}",
        f"/studies/{STUDY}/subjects/{sid}",
        f"/studies/{STUDY}/subjects/{sid}/visits/new",
        f"/studies/{STUDY}/subjects/{sid}/assessments/new",
        "/login",
    ):
        html = b.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        assert "https://" not in html  # no CDN


def test_static_files_are_served_with_the_csp(web: Web) -> None:
    for name in ("htmx.min.js", "app.js", "app.css", "htmx.LICENSE"):
        r = web.client.get(f"/static/{name}")
        assert r.status_code == 200, name
    assert web.client.get("/static/htmx.min.js").text.startswith("var htmx=")
    page = web.client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_login_behind_tls_uses_host_prefixed_secure_cookies(secure_web: Web) -> None:
    """Behind TLS both cookies get the ``__Host-`` prefix and the Secure flag (ASVS 3.3.1; G15)."""
    page = secure_web.client.get("/login")
    login_cookie = page.headers["set-cookie"]
    assert (
        login_cookie.startswith("__Host-tt_login_csrf=")
        and "Secure" in login_cookie
        and "SameSite=strict" in login_cookie
    )
    found = LOGIN_TOKEN.search(page.text)
    assert found is not None
    r = secure_web.client.post("/login", data={"username": "inv1", "password": PASSWORD, "csrf_token": found.group(1)})
    assert r.status_code == 303
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("__Host-tt_session=") and "Secure" in c and "HttpOnly" in c for c in cookies)
    assert secure_web.client.get(f"/studies/{STUDY}").status_code == 200
