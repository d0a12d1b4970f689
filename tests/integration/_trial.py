"""Helpers of the service tests: eligible facts per stratum, a stepping clock, a trial set up with users."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialtwin.protocol import Protocol, load_protocol
from trialtwin.services import (
    bootstrap_admin,
    create_user,
    enter_eligibility,
    grant_role,
    load_study,
    record_consent,
    register_screening,
)
from trialtwin.store import Database

STUDY = "ever-132-002"
SEED = 2020
PASSWORD = "correct horse battery staple"

#: Eligible facts: the documented example (docs/examples/screening-eligible.json) with liver enzymes within
#: 2.5×ULN, so that the stratification facts can vary without touching inclusion I7.
ELIGIBLE_FACTS: dict[str, Any] = {
    **json.loads((Path(__file__).parents[2] / "docs" / "examples" / "screening-eligible.json").read_text()),
    "ast": 1.1,
    "alt": 1.0,
}


def facts_for(stratum: int = 0, **changes: Any) -> dict[str, Any]:
    """Eligible facts in stratum ``stratum`` (0-7: prior lines 2/3, visceral yes/no, prior CDK4/6 yes/no)."""
    facts = dict(ELIGIBLE_FACTS)
    facts["prior_chemo_lines_mbc"] = 2 if (stratum // 4) % 2 == 0 else 3
    facts["visceral_metastasis"] = (stratum // 2) % 2 == 0
    facts["prior_cdk46_inhibitor"] = stratum % 2 == 0
    facts.update(changes)
    return facts


class StepClock:
    """A server clock for tests: starts at ``start`` (UTC) and moves ``step`` forward on every read."""

    def __init__(self, start: dt.datetime | None = None, step: dt.timedelta = dt.timedelta(seconds=1)) -> None:
        self._now = start or dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
        self._step = step
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            self._now += self._step
            return self._now


@dataclass
class Trial:
    """A database with EVER-132-002 loaded and four accounts: ``admin`` (admin, all sites),
    ``investigator`` (all sites), ``coordinator`` (CN-002 only) and ``monitor`` (all sites, no data entry)."""

    db: Database
    clock: StepClock
    admin: int
    investigator: int
    coordinator: int
    monitor: int
    protocol: Protocol
    study: str = STUDY

    def screen(self, site: str = "CN-001", facts: dict[str, Any] | None = None, *, actor: int | None = None) -> str:
        """Register, consent and enter ``facts`` (eligible by default); returns the screening id."""
        who = self.investigator if actor is None else actor
        record = register_screening(self.db, self.study, site, actor=who, clock=self.clock)
        record_consent(
            self.db,
            self.study,
            record.screening_id,
            dt.date(2025, 3, 1),
            form_version="ICF v2.0",
            actor=who,
            clock=self.clock,
        )
        enter_eligibility(self.db, self.study, record.screening_id, facts or facts_for(), actor=who, clock=self.clock)
        return record.screening_id


@dataclass(frozen=True)
class TrialIds:
    admin: int
    investigator: int
    coordinator: int
    monitor: int


def build_trial(db: Database) -> TrialIds:
    """Load the study and create the accounts (see :class:`Trial`)."""
    clock = StepClock(dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC))
    admin = bootstrap_admin(db, "admin", "Ada Admin", PASSWORD, clock=clock).id
    load_study(db, load_protocol(STUDY), seed=SEED, actor=admin, clock=clock)
    ids = {}
    for username, name, role, site in (
        ("ivan", "Ivan Investigator", "investigator", None),
        ("cora", "Cora Coordinator", "coordinator", "CN-002"),
        ("mona", "Mona Monitor", "monitor", None),
    ):
        ids[username] = create_user(db, username, name, PASSWORD, actor=admin, clock=clock).id
        grant_role(db, username, role, study_id=STUDY, site=site, actor=admin, clock=clock)
    return TrialIds(admin, ids["ivan"], ids["cora"], ids["mona"])


def trial_on(db: Database, ids: TrialIds) -> Trial:
    return Trial(db, StepClock(), ids.admin, ids.investigator, ids.coordinator, ids.monitor, load_protocol(STUDY))


def copy_sqlite(template: Path, target: Path) -> None:
    """Copy a SQLite database file (with its WAL files, if any)."""
    shutil.copyfile(template, target)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{template}{suffix}")
        if extra.exists():
            shutil.copyfile(extra, Path(f"{target}{suffix}"))
