"""Golden journey: the twin drives the service, and the service's export gives the twin's derived frames.

The first 12 randomized patients of an EVER-132-002 twin run (seed 1; IRT allocation seed 1) are replayed
in-process through the service use cases (``trialtwin.cli.journey``). The service decides every dose, grade
and RECIST response itself. Then ``derive_all`` (ADSL, ADTTE, ADRS, ADAE) of the service's export is compared
with ``derive_all`` of the twin's frames for the same patients, row by row per subject.

The twin and the service see a patient the same way, so nothing is left to explain (seed 1, 12 patients;
measured 2026-11-25: 12 of 12 subjects identical, no refusal, no dose decision that differs; seeds 2-4 with 40
patients each: the same). Two rules make that so:

* the twin doses from the toxicity history as the site knows it on the visit day (``sim.treatment``): adverse
  events with onset on or before it, attributed to the last dose before onset, at grade 0 once resolved -- what
  the service's dosing visit reads (``services.visits``); its frames carry whether nausea/diarrhoea was
  controlled by supportive care (``adverse_events.controlled``), which the label's rules read;
* the twin records nothing dated after a death or a withdrawal of consent (ICH E6(R3) 2.8.10), which the
  service refuses.

The replay report would name any step the service refused or any dose it decided otherwise; the test asks for
none.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _journey import differing_subjects, sorted_frame

from trialtwin.analysis.frames import validate_frames
from trialtwin.cli.journey import (
    REPLAY_PASSWORD,
    REPLAY_USER,
    HttpClient,
    InProcessClient,
    Journey,
    replay,
    setup_service,
    simulate_for_replay,
    twin_subset,
)
from trialtwin.protocol import load_protocol
from trialtwin.services import export_frames
from trialtwin.sim.scenario import Scenario
from trialtwin.store import Database
from trialtwin.store.migrations import upgrade

N = 12
SEED = 1


@pytest.fixture(scope="module")
def twin() -> tuple[Any, dict[str, Any]]:
    """The twin record (allocation seed = SEED) and its first N randomized subjects, in randomization order."""
    return simulate_for_replay(load_protocol("ever-132-002"), Scenario(), seed=SEED, n=N)


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory, twin: tuple[Any, dict[str, Any]]) -> Journey:
    record, subjects = twin
    protocol = load_protocol("ever-132-002")
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('journey') / 'journey.db'}")
    upgrade(db)
    try:
        actor = setup_service(db, protocol, seed=SEED, start=Scenario().accrual.start)
        report = replay(InProcessClient(db, protocol.id, actor), record.frames, subjects)
        service = export_frames(db, protocol.id, cutoff=record.cutoff)
    finally:
        db.dispose()
    return Journey(twin_subset(record.frames, list(subjects)), service, record.cutoff, report)


def test_the_service_allocates_exactly_as_the_twin(journey: Journey) -> None:
    """Same seed, same order → same subject numbers, arms, strata and randomization dates (E5)."""
    twin = validate_frames(journey.twin)["subjects"]
    service = validate_frames(journey.service)["subjects"]
    assert len(twin) == N
    columns = [c for c in twin.columns if c != "last_dose_date"]
    pd.testing.assert_frame_equal(
        sorted_frame(twin[columns], ["subject_id"]), sorted_frame(service[columns], ["subject_id"])
    )


def test_events_recorded_as_entered_come_back_unchanged(journey: Journey) -> None:
    """AEs, disposition, survival contacts, deaths and labs are data the site enters: the export equals the twin
    for every subject whose record the service took whole (see the refusals test for the others)."""
    refused = {subject for subject, _, _ in journey.report.refused}
    twin = {k: v[~v["subject_id"].isin(refused)] for k, v in validate_frames(journey.twin).items()}
    service = {k: v[~v["subject_id"].isin(refused)] for k, v in validate_frames(journey.service).items()}
    assert len(twin["adverse_events"]) > 10 * N
    keys = {
        "adverse_events": ["subject_id", "start_date", "term", "grade"],
        "disposition": ["subject_id", "event"],
        "survival_followup": ["subject_id", "date"],
        "deaths": ["subject_id"],
    }
    for name, key in keys.items():
        pd.testing.assert_frame_equal(sorted_frame(twin[name], key), sorted_frame(service[name], key), obj=name)
    # Labs: the service also stores the platelets and bilirubin sent with each visit.
    labs = service["labs"]
    anc = labs[(labs["test"] == "anc")]
    twin_labs = twin["labs"]
    assert len(twin_labs) > 10 * N
    lab_key = ["subject_id", "date", "value"]
    pd.testing.assert_frame_equal(sorted_frame(twin_labs, lab_key), sorted_frame(anc, lab_key), obj="labs (ANC)")


def test_derived_frames_are_the_twins(journey: Journey) -> None:
    """Seed 1, 12 patients: 12 of 12 subjects identical in ADSL, ADTTE, ADRS and ADAE, the service refused no
    step and decided every dose as the twin did (measured 2026-11-25)."""
    assert journey.report.refused == [], journey.report.refused
    assert journey.report.dose_mismatches == [], journey.report.dose_mismatches
    assert differing_subjects(journey.twin, journey.service, journey.cutoff) == {}


class ReplayClock:
    """The server's clock in the HTTP replay: the client moves it to each step's time."""

    def __init__(self) -> None:
        self.now = dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC)

    def set(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_json_api_records_what_the_use_cases_record(tmp_path: Path, twin: tuple[Any, dict[str, Any]]) -> None:
    """The same 3 twin patients replayed through the JSON API (``HttpClient``, web-contract.md) and through
    the use cases in-process give the same export, frame for frame."""
    from fastapi.testclient import TestClient

    from trialtwin.web.app import create_app
    from trialtwin.web.settings import Settings

    protocol, scenario = load_protocol("ever-132-002"), Scenario()
    record, everyone = twin
    subjects = dict(list(everyone.items())[:3])
    exports, reports = {}, {}
    for kind in ("http", "direct"):
        db = Database(f"sqlite:///{tmp_path / kind}.db")
        upgrade(db)
        actor = setup_service(db, protocol, seed=SEED, start=scenario.accrual.start)
        if kind == "direct":
            reports[kind] = replay(InProcessClient(db, protocol.id, actor), record.frames, subjects)
        else:
            clock = ReplayClock()
            app = create_app(
                Settings(db_url=str(db.url), token_lifetime_hours=720), db=db, clock=clock, include_pages=False
            )
            with TestClient(app) as http:
                client = HttpClient(http, protocol.id, REPLAY_USER, REPLAY_PASSWORD, set_time=clock.set)
                reports[kind] = replay(client, record.frames, subjects)
        exports[kind] = export_frames(db, protocol.id, cutoff=record.cutoff)
        db.dispose()
    assert reports["direct"].refused == [] and reports["http"].steps == reports["direct"].steps > 100
    assert reports["http"].refused == [], reports["http"].refused
    missing = {name for name, frame in exports["http"].items() if not frame.equals(exports["direct"][name])}
    assert missing == set(), missing
