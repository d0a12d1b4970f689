"""Helpers of the page tests: a client that logs in through the login form like a person and reads the CSRF
token from the page."""

from __future__ import annotations

import re
from typing import Any

import httpx
from _web import PASSWORD, STUDY, Web

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A logged-in user of the pages: ``get``/``post`` with the session cookie; ``post`` adds the CSRF field."""

    def __init__(self, web: Web, username: str) -> None:
        self.web = web
        self.username = username
        self.client = web.new_client(follow_redirects=False)
        self.csrf = ""
        self.login()

    def login(self) -> None:
        page = self.client.get("/login")
        assert page.status_code == 200, page.text
        token = LOGIN_TOKEN.search(page.text)
        assert token is not None
        r = self.client.post(
            "/login", data={"username": self.username, "password": PASSWORD, "csrf_token": token.group(1), "next": "/"}
        )
        assert r.status_code == 303, r.text
        dashboard = self.client.get(f"/studies/{STUDY}")
        found = CSRF_META.search(dashboard.text)
        assert found is not None, dashboard.text[:500]
        self.csrf = found.group(1)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def submit(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """Post a form like a browser: a saved form answers 303 See Other (Post/Redirect/Get), which is
        followed with a GET; any other answer (a form with errors) is returned as it is."""
        r = self.post(path, data)
        if r.status_code != 303:
            return r
        return self.get(r.headers["location"])


def subject_url(screening_id: str) -> str:
    return f"/studies/{STUDY}/subjects/{screening_id}"


def form_values(facts: dict[str, Any]) -> dict[str, str]:
    """Eligibility facts as the form sends them (booleans as yes/no)."""
    return {k: "yes" if v is True else "no" if v is False else str(v) for k, v in facts.items()}


def visit_form(b: Browser, screening_id: str, **fields: str) -> dict[str, str]:
    """A C1D1 dosing visit's form (a physician's-choice arm gets eribulin)."""
    data = {"cycle": "1", "day": "1", "visit_date": "2025-03-03", "weight_kg": "65", **fields}
    if 'name="regimen"' in b.get(subject_url(screening_id) + "/visits/new").text:
        data["regimen"] = "eribulin"
    return data


def record_visit(b: Browser, screening_id: str, **labs: str) -> httpx.Response:
    """Baseline (once) and a C1D1 dosing visit; returns the result page (after the redirect)."""
    url = subject_url(screening_id)
    b.post(url + "/baseline", {"baseline_weight_kg": "65", "height_cm": "165", "ecog": "1"})
    return b.submit(url + "/visits", visit_form(b, screening_id, **labs))
