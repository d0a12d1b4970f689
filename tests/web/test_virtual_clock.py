"""The virtual clock of twin replays (``trialtwin serve --virtual-clock``; ``trialtwin.web.api.clock``): absent
unless asked for, administrators only (policy ``clock.set``, checked for every principal of the access matrix),
forward only unless ``back`` is said, aware times only, and every response and page marked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from _web import PASSWORD, WITH_PAGES, Seeded, Web, make_web
from fastapi.testclient import TestClient
from test_access_matrix import PRINCIPALS, Case, expected, outcome

from trialtwin.web.api.clock import HEADER, VirtualClock
from trialtwin.web.app import create_app
from trialtwin.web.policy import walk_routes
from trialtwin.web.settings import Settings

START = dt.datetime(2020, 10, 24, 12, tzinfo=dt.UTC)


@pytest.fixture
def virtual(seeded: Seeded, tmp_path: Path) -> Iterator[tuple[TestClient, VirtualClock, Web]]:
    web = make_web(seeded, tmp_path)  # the seeded database, served again with a virtual clock
    clock = VirtualClock(START)
    app = create_app(
        Settings(db_url=str(web.db.url), virtual_clock=True, token_lifetime_hours=720),
        db=web.db,
        clock=clock,
        include_pages=WITH_PAGES,
    )
    yield TestClient(app, follow_redirects=False), clock, web
    web.db.dispose()


def _admin(client: TestClient) -> dict[str, str]:
    r = client.post("/api/v1/tokens", json={"username": "admin", "password": PASSWORD, "study_id": "ever-132-002"})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_without_the_flag_there_is_no_clock_route_and_no_marker(web: Web) -> None:
    assert web.client.get("/api/v1/virtual-clock").status_code == 404
    assert web.client.put("/api/v1/virtual-clock", json={"now": "2021-01-01T12:00:00Z"}).status_code == 404
    assert HEADER not in web.client.get("/api/v1/health").headers
    assert all("virtual-clock" not in e.path for e in walk_routes(web.app))
    assert not isinstance(web.app.state.clock, VirtualClock)


def test_the_admin_moves_the_clock_forward_and_back_only_when_told(
    virtual: tuple[TestClient, VirtualClock, Web],
) -> None:
    client, clock, _ = virtual
    assert client.get("/api/v1/virtual-clock").json() == {"now": "2020-10-24T12:00:00Z", "virtual": True}
    auth = _admin(client)
    r = client.put("/api/v1/virtual-clock", json={"now": "2020-11-19T12:00:00+00:00"}, headers=auth)
    assert r.status_code == 200 and r.json()["now"] == "2020-11-19T12:00:00Z"
    assert clock() == dt.datetime(2020, 11, 19, 12, tzinfo=dt.UTC)
    back = client.put("/api/v1/virtual-clock", json={"now": "2020-11-16T12:00:00Z"}, headers=auth)
    assert back.status_code == 409 and '"back": true' in back.json()["detail"]
    assert clock() == dt.datetime(2020, 11, 19, 12, tzinfo=dt.UTC)  # unchanged
    naive = client.put("/api/v1/virtual-clock", json={"now": "2020-12-01T12:00:00"}, headers=auth)
    assert naive.status_code == 422 and "now" in str(naive.json()["detail"])
    told = client.put("/api/v1/virtual-clock", json={"now": "2020-11-16T12:00:00Z", "back": True}, headers=auth)
    assert told.status_code == 200 and clock() == dt.datetime(2020, 11, 16, 12, tzinfo=dt.UTC)
    # another time zone is converted to UTC
    r = client.put("/api/v1/virtual-clock", json={"now": "2020-11-17T09:00:00+08:00"}, headers=auth)
    assert r.json()["now"] == "2020-11-17T01:00:00Z"


def test_only_administrators_may_set_it(virtual: tuple[TestClient, VirtualClock, Web]) -> None:
    """Every principal of the access matrix against ``clock.set`` (empty body: allowed means 422, nothing set)."""
    _, clock, web = virtual
    app = create_app(Settings(db_url=str(web.db.url), virtual_clock=True), db=web.db, clock=clock, include_pages=False)
    for principal, username in PRINCIPALS.items():
        client = TestClient(app, follow_redirects=False)
        headers = {}
        if username is not None:
            r = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
            headers = {"X-CSRF-Token": r.json()["csrf_token"]}
        r = client.put("/api/v1/virtual-clock", json={}, headers=headers)
        want = expected(
            Case(principal, "PUT", "/api/v1/virtual-clock", "own", "clock.set"),
            body_site=False,
            subject_in_request=False,
        )
        assert outcome(r.status_code, r.headers.get("location", "")) == want, (principal, r.status_code, r.text)
        assert want == ("allowed" if principal == "admin" else "unauthenticated" if username is None else "forbidden")
    assert clock() == START


def test_every_answer_and_page_is_marked(virtual: tuple[TestClient, VirtualClock, Web]) -> None:
    client, _, _ = virtual
    for path in ("/api/v1/health", "/api/v1/virtual-clock", "/api/v1/studies/ever-132-002/nothing"):
        assert client.get(path).headers.get(HEADER) == "on", path
    if WITH_PAGES:
        page = client.get("/login")
        assert page.headers.get(HEADER) == "on"
        assert "Virtual clock" in page.text and "not a real trial" in page.text


def test_the_mode_is_never_implied() -> None:
    assert Settings().virtual_clock is False
    with pytest.raises(ValueError, match="time zone"):
        Settings(virtual_clock=True, virtual_clock_start=dt.datetime(2020, 1, 1))
