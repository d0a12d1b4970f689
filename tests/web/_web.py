"""Helpers of the web tests (fixtures in conftest.py): a migrated SQLite database with EVER-132-002, two
sites' staff and the other roles, subjects at both sites, an app on a copy of it with a settable clock,
and login helpers.

Accounts (password :data:`PASSWORD`): ``admin`` (admin), ``inv1``/``coord1`` (CN-001), ``inv2``/``coord2``
(CN-002), ``monitor`` (all sites), ``monitor1`` (CN-001 only), ``datamanager``, ``statistician``, ``sponsor``
(all sites). Subjects: at each site one eligible subject (``eligible``), one randomized (``randomized``) and one
just registered (``registered``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _trial import facts_for
from fastapi import FastAPI
from fastapi.testclient import TestClient

from trialtwin.protocol import load_protocol
from trialtwin.services import (
    bootstrap_admin,
    create_user,
    enter_eligibility,
    grant_role,
    load_study,
    randomize,
    record_consent,
    register_screening,
)
from trialtwin.store import Database
from trialtwin.store.migrations import upgrade
from trialtwin.web.app import create_app
from trialtwin.web.settings import Settings

STUDY = "ever-132-002"
PASSWORD = "correct horse battery staple"
SITES = ("CN-001", "CN-002")
#: ``TRIALTWIN_TEST_PAGES=0`` tests the API alone (while the pages package is being changed).
WITH_PAGES = os.environ.get("TRIALTWIN_TEST_PAGES", "1") != "0"
START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)

#: username → (role, site or None)
USERS: dict[str, tuple[str, str | None]] = {
    "inv1": ("investigator", "CN-001"),
    "coord1": ("coordinator", "CN-001"),
    "inv2": ("investigator", "CN-002"),
    "coord2": ("coordinator", "CN-002"),
    "monitor": ("monitor", None),
    "monitor1": ("monitor", "CN-001"),
    "datamanager": ("data_manager", None),
    "statistician": ("statistician", None),
    "sponsor": ("sponsor", None),
}


class Clock:
    """A settable server clock (never moves by itself)."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass(frozen=True)
class Seeded:
    path: Path
    subjects: dict[str, dict[str, str]]  # site → kind → screening id


def _seed(db: Database) -> dict[str, dict[str, str]]:
    clock = Clock(dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC))
    admin = bootstrap_admin(db, "admin", "Ada Admin", PASSWORD, clock=clock).id
    load_study(db, load_protocol(STUDY), seed=2020, actor=admin, clock=clock)
    ids: dict[str, int] = {}
    for username, (role, site) in USERS.items():
        ids[username] = create_user(db, username, f"{username.title()} Person", PASSWORD, actor=admin, clock=clock).id
        grant_role(db, username, role, study_id=STUDY, site=site, actor=admin, clock=clock)
    subjects: dict[str, dict[str, str]] = {}
    for n, site in enumerate(SITES, start=1):
        actor = ids[f"inv{n}"]
        out: dict[str, str] = {}
        for kind in ("randomized", "eligible", "registered"):
            sid = register_screening(db, STUDY, site, actor=actor, clock=clock).screening_id
            if kind != "registered":
                record_consent(db, STUDY, sid, dt.date(2025, 3, 1), form_version="ICF v2.0", actor=actor, clock=clock)
                enter_eligibility(db, STUDY, sid, facts_for(n), actor=actor, clock=clock)
            if kind == "randomized":
                randomize(db, STUDY, sid, actor=actor, clock=clock)
            out[kind] = sid
        subjects[site] = out
    return subjects


@dataclass
class Web:
    """An app on a fresh copy of the seeded database, its clock and client, and login helpers."""

    app: FastAPI
    client: TestClient
    clock: Clock
    db: Database
    subjects: dict[str, dict[str, str]]
    tokens: dict[str, str] = field(default_factory=dict)

    def login(self, username: str, client: TestClient | None = None) -> str:
        """Log ``username`` in through the API-less login helper; returns the CSRF token."""
        c = client or self.client
        r = c.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["csrf_token"])

    def token(self, username: str, study: str = STUDY) -> str:
        if (username, study) not in self.tokens:
            r = self.client.post("/api/v1/tokens", json={"username": username, "password": PASSWORD, "study_id": study})
            assert r.status_code == 201, r.text
            self.tokens[(username, study)] = r.json()["token"]  # type: ignore[index]
        return self.tokens[(username, study)]  # type: ignore[index]

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}

    def new_client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.app, **kwargs)


def seed_database(path: Path) -> Seeded:
    """A migrated database at ``path`` with the study, the accounts and the subjects."""
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    subjects = _seed(db)
    db.dispose()
    return Seeded(path, subjects)


def make_web(seeded: Seeded, tmp_path: Path, *, secure: bool = False) -> Web:
    target = tmp_path / "web.db"
    shutil.copyfile(seeded.path, target)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{seeded.path}{suffix}")
        if extra.exists():
            shutil.copyfile(extra, Path(f"{target}{suffix}"))
    db = Database(f"sqlite:///{target}", pool_size=4)
    clock = Clock()
    app = create_app(
        Settings(db_url=f"sqlite:///{target}", secure=secure), db=db, clock=clock, include_pages=WITH_PAGES
    )
    base = "https://testserver" if secure else "http://testserver"
    client = TestClient(app, base_url=base, follow_redirects=False)
    return Web(app, client, clock, db, seeded.subjects)
