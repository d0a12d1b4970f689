"""One smoke test of the web service on PostgreSQL (same code as SQLite): migrate, seed, log in, screen and
randomize through the API, check the session and the access tables work there too. Skipped, with the reason,
when no PostgreSQL server is reachable (as the integration tests do); the scratch database is dropped."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from _trial import facts_for
from _web import PASSWORD, STUDY, Clock, _seed
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from trialtwin.store import Database
from trialtwin.store.migrations import upgrade
from trialtwin.web.app import create_app
from trialtwin.web.settings import Settings

PG_ADMIN_URL = os.environ.get("TRIALTWIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_db() -> Iterator[Database]:
    admin_db = Database(PG_ADMIN_URL)
    engine = create_engine(admin_db.url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({type(exc).__name__})")
    name = f"tt_web_{os.getpid()}_{secrets.token_hex(4)}"
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    db = Database(admin_db.url.set(database=name).render_as_string(hide_password=False), pool_size=4)
    try:
        yield db
    finally:
        db.dispose()
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def test_login_screen_and_randomize_on_postgresql(pg_db: Database) -> None:
    upgrade(pg_db)
    subjects = _seed(pg_db)
    clock = Clock()
    app = create_app(Settings(db_url="sqlite://"), db=pg_db, clock=clock, include_pages=False)
    client = TestClient(app)
    r = client.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD})
    assert r.status_code == 200
    h = {"X-CSRF-Token": r.json()["csrf_token"]}
    r = client.post(f"/api/v1/studies/{STUDY}/subjects", json={"site": "CN-001"}, headers=h)
    sid = r.json()["screening_id"]
    base = f"/api/v1/studies/{STUDY}/subjects/{sid}"
    assert client.post(f"{base}/consent", json={"consent_date": "2025-03-01"}, headers=h).status_code == 200
    assert client.put(f"{base}/eligibility", json={"facts": facts_for(2)}, headers=h).json()["status"] == "eligible"
    key = {**h, "Idempotency-Key": "pg-1"}
    first, second = (client.post(f"{base}/randomization", headers=key) for _ in range(2))
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    other = subjects["CN-002"]["eligible"]
    assert client.get(f"/api/v1/studies/{STUDY}/subjects/{other}").status_code == 404
    sig = {"meaning": "review", "password": PASSWORD, "username": "inv1"}
    assert client.post(f"{base}/signatures", json=sig, headers=h).json()["status"] == "valid"
    clock.advance(minutes=31)
    assert client.get("/api/v1/me").status_code == 401
