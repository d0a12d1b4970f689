"""The twin drives the service: replay a simulated trial, patient by patient, through the service use cases.

Each virtual patient of a twin record (``trialtwin.sim.trial.simulate_trial``) is pushed through a
:class:`ServiceClient`, each step at its own time (the client's clock): register, consent, eligibility facts,
randomize, baseline, then dosing visits with their weight and pre-dose labs, other labs, adverse events (at onset;
the resolution when it comes), scans per reader with their lesion measurements, end of treatment, survival
contacts, withdrawal, death. Steps go in calendar order across patients (:func:`calendar_order`), patients being
randomized in the twin's allocation order. The service decides doses, grades and RECIST responses itself; the
record's own decisions are not sent.

Allocation: the twin is run with ``allocation_seed`` and the study loaded with the same seed, so both use the
IRT's per-slot generator (``trialtwin.store.ledger.rng_for``); randomizing in the twin's order then gives the
same arms, strata and subject numbers.

Clients: :class:`InProcessClient` (the use cases, ``trialtwin journey``) and :class:`HttpClient` (the JSON API;
``trialtwin simulate --via URL`` against ``trialtwin serve --virtual-clock``, set up by ``trialtwin journey
--setup-only``). The golden journeys (tests/integration/test_golden_journey.py, in-process;
test_golden_journey_live.py, a live server) compare ``derive_all`` of the service's export with ``derive_all``
of the twin's frames for the same patients.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Protocol

import numpy as np
import pandas as pd
import typer
from rich.markup import escape
from sqlalchemy import func, select

from trialtwin.cli.console import console
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Protocol as StudyProtocol
from trialtwin.services import (
    AdverseEventIn,
    BaselineIn,
    DosingVisitIn,
    NewLesion,
    NonTargetFinding,
    ServiceError,
    TargetMeasurement,
    TumourAssessmentIn,
    bootstrap_admin,
    create_user,
    enter_eligibility,
    export_frames,
    grant_role,
    load_study,
    randomize,
    record_adverse_event,
    record_baseline,
    record_consent,
    record_death,
    record_dosing_visit,
    record_end_of_treatment,
    record_labs,
    record_survival_contact,
    record_tumour_assessment,
    record_withdrawal,
    register_screening,
    resolve_adverse_event,
)
from trialtwin.sim.population import Candidate
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import simulate_trial
from trialtwin.store.db import Database
from trialtwin.store.tables import Study

NOON = dt.time(12, 0, tzinfo=dt.UTC)
#: The replay's user (investigator at all sites, and admin for the virtual clock), made by :func:`setup_service`.
REPLAY_USER = "replay-investigator"
REPLAY_PASSWORD = "replay investigator password 0"
REPLAY_ADMIN = "replay-admin"
REPLAY_ADMIN_PASSWORD = "replay admin password 0"
#: Order of a patient's steps within one day: what the twin knew before a dose is recorded before it.
PRIORITY = {
    "scan": 0,
    "labs": 1,
    "ae": 2,
    "resolve": 3,
    "dose": 4,
    "eot": 5,
    "contact": 6,
    "withdrawal": 7,
    "death": 8,
}


class ServiceClient(Protocol):
    """What the replay needs from the service; ``at`` is when the step happens (the server's clock in-process;
    an HTTP client sends the step and the server stamps it)."""

    def register(self, site: str, *, at: dt.datetime) -> str: ...
    def consent(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None: ...
    def eligibility(self, screening_id: str, facts: Mapping[str, Any], *, at: dt.datetime) -> str: ...
    def randomize(self, screening_id: str, *, at: dt.datetime) -> tuple[str, str]: ...
    def baseline(
        self, screening_id: str, weight_kg: float, height_cm: float, ecog: int, *, at: dt.datetime
    ) -> None: ...
    def dosing_visit(self, screening_id: str, visit: DosingVisitIn, *, at: dt.datetime) -> str: ...
    def labs(self, screening_id: str, date: dt.date, labs: Mapping[str, Any], *, at: dt.datetime) -> None: ...
    def adverse_event(self, screening_id: str, event: AdverseEventIn, *, at: dt.datetime) -> int: ...
    def resolve(self, screening_id: str, event_id: int, date: dt.date, *, at: dt.datetime) -> None: ...
    def assessment(self, screening_id: str, scan: TumourAssessmentIn, *, at: dt.datetime) -> None: ...
    def end_of_treatment(self, screening_id: str, date: dt.date, reason: str, *, at: dt.datetime) -> None: ...
    def survival_contact(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None: ...
    def withdrawal(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None: ...
    def death(self, screening_id: str, date: dt.date, cause: str, *, at: dt.datetime) -> None: ...


class InProcessClient:
    """:class:`ServiceClient` calling the use cases directly on ``db`` as user ``actor``."""

    def __init__(self, db: Database, study_id: str, actor: int) -> None:
        self.db, self.study, self.actor = db, study_id, actor

    def _kw(self, at: dt.datetime) -> dict[str, Any]:
        return {"actor": self.actor, "clock": lambda: at}

    def register(self, site: str, *, at: dt.datetime) -> str:
        return register_screening(self.db, self.study, site, **self._kw(at)).screening_id

    def consent(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None:
        record_consent(self.db, self.study, screening_id, date, form_version="ICF replay", **self._kw(at))

    def eligibility(self, screening_id: str, facts: Mapping[str, Any], *, at: dt.datetime) -> str:
        return enter_eligibility(self.db, self.study, screening_id, facts, **self._kw(at)).status.value

    def randomize(self, screening_id: str, *, at: dt.datetime) -> tuple[str, str]:
        result = randomize(self.db, self.study, screening_id, **self._kw(at))
        return result.subject_number, result.arm

    def baseline(self, screening_id: str, weight_kg: float, height_cm: float, ecog: int, *, at: dt.datetime) -> None:
        record_baseline(self.db, self.study, screening_id, BaselineIn(weight_kg, height_cm, ecog), **self._kw(at))

    def dosing_visit(self, screening_id: str, visit: DosingVisitIn, *, at: dt.datetime) -> str:
        return record_dosing_visit(self.db, self.study, screening_id, visit, **self._kw(at)).action

    def labs(self, screening_id: str, date: dt.date, labs: Mapping[str, Any], *, at: dt.datetime) -> None:
        record_labs(self.db, self.study, screening_id, date, labs, **self._kw(at))

    def adverse_event(self, screening_id: str, event: AdverseEventIn, *, at: dt.datetime) -> int:
        return record_adverse_event(self.db, self.study, screening_id, event, **self._kw(at)).id

    def resolve(self, screening_id: str, event_id: int, date: dt.date, *, at: dt.datetime) -> None:
        resolve_adverse_event(self.db, self.study, screening_id, event_id, date, **self._kw(at))

    def assessment(self, screening_id: str, scan: TumourAssessmentIn, *, at: dt.datetime) -> None:
        record_tumour_assessment(self.db, self.study, screening_id, scan, **self._kw(at))

    def end_of_treatment(self, screening_id: str, date: dt.date, reason: str, *, at: dt.datetime) -> None:
        record_end_of_treatment(self.db, self.study, screening_id, date, reason, **self._kw(at))

    def survival_contact(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None:
        record_survival_contact(self.db, self.study, screening_id, date, **self._kw(at))

    def withdrawal(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None:
        record_withdrawal(self.db, self.study, screening_id, date, **self._kw(at))

    def death(self, screening_id: str, date: dt.date, cause: str, *, at: dt.datetime) -> None:
        record_death(self.db, self.study, screening_id, date, cause, **self._kw(at))


class ReplayError(TrialtwinError):
    """The replay cannot go on: the service refused a patient's entry or allocated differently from the twin,
    the server is unreachable or not in virtual-clock mode, or the replay user's credentials or roles fail."""


@dataclass
class ReplayReport:
    """What the replay did: subjects pushed, steps sent, steps the service refused (with its message), and the
    dose decisions where the service and the twin record disagree."""

    subjects: dict[str, str] = field(default_factory=dict)  # twin subject id → screening id in the service
    steps: int = 0
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # subject, step, message
    dose_mismatches: list[tuple[str, str, str, str]] = field(default_factory=list)  # subject, visit, twin, service
    clock_back: list[tuple[str, str, int]] = field(default_factory=list)  # subject, step, days back in time


def _date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def _plain(value: Any) -> Any:
    """JSON-able Python values (NumPy scalars become int/float/bool)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


@dataclass(frozen=True, slots=True)
class _Step:
    at: dt.datetime  # when it happens (noon UTC of its day)
    kind: str
    label: str
    run: Callable[[dt.datetime], Any]  # called with the step's time
    fatal: bool = False  # the patient's entry (register … baseline): a refusal there stops the replay


class _Patient:
    """One replayed patient's state: the service's screening id (known once registered) and its AE ids."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.sid = ""
        self.ae_ids: dict[int, int] = {}

    def send(self, method: Callable[..., Any], *args: Any) -> Callable[[dt.datetime], Any]:
        """A step calling ``method(screening id, *args, at=...)`` once the patient is registered."""
        return lambda at: method(self.sid, *args, at=at)


def plan_subject(
    client: ServiceClient,
    frames: Mapping[str, pd.DataFrame],
    subject_id: str,
    screened: tuple[str, dt.date, Candidate],
    report: ReplayReport,
) -> list[_Step]:
    """One randomized twin subject's steps, in the order and at the times they are sent (see the module
    docstring): entry (register, consent, eligibility at screening; randomize, baseline at randomization), then
    the record's steps in date order, none before the randomization day."""
    site, screened_date, cand = screened
    subjects = frames["subjects"]
    subj = _records(subjects[subjects["subject_id"] == subject_id])[0]
    rand_date = _date(subj["randomized_date"])
    patient = _Patient(client)

    def noon(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(max(day, rand_date), NOON)

    def register(at: dt.datetime) -> None:
        patient.sid = client.register(site, at=at)
        report.subjects[subject_id] = patient.sid

    def eligibility(at: dt.datetime) -> None:
        status = client.eligibility(patient.sid, _plain(cand.facts), at=at)
        if status != "eligible":
            raise ReplayError(f"{subject_id}: the service finds the twin's eligible subject {status}")

    def randomize_step(at: dt.datetime) -> None:
        number, arm = client.randomize(patient.sid, at=at)
        if (number, arm) != (subject_id, subj["arm"]):
            raise ReplayError(
                f"{subject_id}: the service allocated {number} to {arm}, the twin to {subj['arm']}: the study must be "
                "set up, empty, with the IRT seed equal to the twin's (trialtwin journey --setup-only --seed S)"
            )

    screen_at = dt.datetime.combine(screened_date, NOON)
    body = (float(subj["weight_kg"]), float(subj["height_cm"]), int(subj["ecog"]))
    entry = [
        _Step(screen_at, "register", f"register {screened_date}", register, True),
        _Step(screen_at, "consent", f"consent {screened_date}", patient.send(client.consent, screened_date), True),
        _Step(screen_at, "eligibility", f"eligibility {screened_date}", eligibility, True),
        _Step(noon(rand_date), "randomize", f"randomize {rand_date}", randomize_step, True),
        _Step(noon(rand_date), "baseline", f"baseline {rand_date}", patient.send(client.baseline, *body), True),
    ]
    steps: list[tuple[dt.date, int, int, _Step]] = []

    def add(date: dt.date, kind: str, run: Callable[[dt.datetime], Any]) -> None:
        steps.append((date, PRIORITY[kind], len(steps), _Step(noon(date), kind, f"{kind} {date}", run)))

    def of(name: str) -> pd.DataFrame:
        frame = frames[name]
        return frame[frame["subject_id"] == subject_id]

    _add_treatment(add, patient, subject_id, of("exposure"), of("labs"), cand, subj, report)

    def record_ae(key: int, event: AdverseEventIn, at: dt.datetime) -> None:
        patient.ae_ids[key] = client.adverse_event(patient.sid, event, at=at)

    def resolve_ae(key: int, date: dt.date, at: dt.datetime) -> None:
        if key not in patient.ae_ids:
            raise ServiceError("not sent: the service refused this adverse event")
        client.resolve(patient.sid, patient.ae_ids[key], date, at=at)

    for i, ae in enumerate(_records(of("adverse_events"))):
        controlled = ae.get("controlled")
        event = AdverseEventIn(
            str(ae["term"]),
            _date(ae["start_date"]),
            grade=int(ae["grade"]),
            serious=bool(ae["serious"]),
            controlled=None if controlled is None or pd.isna(controlled) else bool(controlled),
        )
        add(event.onset, "ae", partial(record_ae, i, event))
        if not pd.isna(ae["end_date"]):
            add(_date(ae["end_date"]), "resolve", partial(resolve_ae, i, _date(ae["end_date"])))
    for scan, record_date in _scans(of("lesions"), rand_date):
        add(record_date, "scan", patient.send(client.assessment, scan))
    for row in _records(of("disposition")):
        when = _date(row["date"])
        if row["event"] == "end_of_treatment":
            add(when, "eot", patient.send(client.end_of_treatment, when, str(row["reason"])))
        elif row["event"] == "end_of_study" and row["reason"] == "withdrawal":
            add(when, "withdrawal", patient.send(client.withdrawal, when))
    for row in _records(of("survival_followup")):
        add(_date(row["date"]), "contact", patient.send(client.survival_contact, _date(row["date"])))
    for row in _records(of("deaths")):
        add(_date(row["date"]), "death", patient.send(client.death, _date(row["date"]), str(row["cause"])))
    return entry + [step for *_, step in sorted(steps, key=lambda s: s[:3])]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _add_treatment(
    add: Callable[[dt.date, str, Callable[[dt.datetime], Any]], None],
    patient: _Patient,
    subject_id: str,
    exposure: pd.DataFrame,
    labs: pd.DataFrame,
    cand: Candidate,
    subj: dict[str, Any],
    report: ReplayReport,
) -> None:
    """Dosing visits with their pre-dose ANC (the twin records it last on the day; an earlier ANC that day is
    the previous dose's nadir) plus the platelets and bilirubin the twin's engine call used; other labs alone."""
    by_date: dict[dt.date, list[float]] = {}
    for row in _records(labs[labs["test"] == "anc"]):
        by_date.setdefault(_date(row["date"]), []).append(float(row["value"]))
    regimen = str(subj["regimen"])
    fixed = {
        "platelets": float(cand.facts.get("platelets", 230.0)),
        "bilirubin": float(cand.facts.get("total_bilirubin", 0.5)),
    }

    def dose(visit: DosingVisitIn, twin: str, at: dt.datetime) -> None:
        action = patient.client.dosing_visit(patient.sid, visit, at=at)
        if action != twin:
            report.dose_mismatches.append((subject_id, f"C{visit.cycle}D{visit.day} {visit.visit_date}", twin, action))

    for i, row in enumerate(_records(exposure)):
        when = _date(row["date"])
        values = by_date.get(when, [])
        pre = values.pop() if values else math.nan
        visit = DosingVisitIn(
            int(row["cycle"]),
            int(row["cycle_day"]),
            when,
            float(subj["weight_kg"]),
            {"anc": pre, **fixed},
            regimen=regimen if i == 0 else None,
        )
        add(when, "dose", partial(dose, visit, str(row["action"])))
    for when, values in by_date.items():
        for value in values:  # what is left: nadir counts, not a dosing day's pre-dose value
            add(when, "labs", patient.send(patient.client.labs, when, {"anc": value}))


def _scans(lesions: pd.DataFrame, rand_date: dt.date) -> list[tuple[TumourAssessmentIn, dt.date]]:
    """One assessment per (reader, date), in date order; the baseline is entered on the randomization day."""
    out = []
    for (assessor, date), group in lesions.groupby(["assessor", "date"], sort=True):
        when = _date(date)
        targets, non_targets, new = [], [], []
        for row in _records(group):
            lesion_id, organ, nodal = str(row["lesion_id"]), str(row["organ"]), bool(row["nodal"])
            if row["kind"] == "target":
                small = row["diameter_mm"] == 5.0 and not nodal  # the twin writes "too small" as 5 mm
                diameter = None if small else float(row["diameter_mm"])
                targets.append(TargetMeasurement(lesion_id, organ, nodal, diameter, small))
            elif row["kind"] == "non_target":
                non_targets.append(NonTargetFinding(lesion_id, organ, nodal, str(row["status"])))
            else:
                new.append(NewLesion(lesion_id, organ))
        scan = TumourAssessmentIn(when, str(assessor), tuple(targets), tuple(non_targets), tuple(new))
        out.append((scan, max(when, rand_date)))
    return out


@dataclass
class Journey:
    """A golden journey: the twin's frames for the replayed subjects, the service's export, and the replay."""

    twin: dict[str, pd.DataFrame]
    service: dict[str, pd.DataFrame]
    cutoff: dt.date
    report: ReplayReport


def twin_subset(frames: Mapping[str, pd.DataFrame], subject_ids: list[str]) -> dict[str, pd.DataFrame]:
    """The frames restricted to ``subject_ids`` (screening: their rows only)."""
    keep = set(subject_ids)
    return {name: frame[frame["subject_id"].isin(keep)].reset_index(drop=True) for name, frame in frames.items()}


def setup_service(
    db: Database,
    protocol: StudyProtocol,
    *,
    seed: int,
    start: dt.date,
    password: str = REPLAY_PASSWORD,
    admin_password: str = REPLAY_ADMIN_PASSWORD,
) -> int:
    """Load ``protocol`` with randomization ``seed`` and create the replay user :data:`REPLAY_USER`: investigator
    at every site, and administrator so that it may move a virtual clock (``serve --virtual-clock``); everything
    is stamped 30 days before ``start``. Returns the replay user's id. The database must be migrated and empty."""
    at = dt.datetime.combine(start - dt.timedelta(days=30), NOON)
    clock = lambda: at  # noqa: E731
    admin = bootstrap_admin(db, REPLAY_ADMIN, "Replay Admin", admin_password, clock=clock).id
    load_study(db, protocol, seed=seed, actor=admin, clock=clock)
    user = create_user(db, REPLAY_USER, "Replay Investigator", password, actor=admin, clock=clock)
    grant_role(db, user.username, "investigator", study_id=protocol.id, site=None, actor=admin, clock=clock)
    grant_role(db, user.username, "admin", study_id=None, site=None, actor=admin, clock=clock)
    return user.id


def run_journey(db: Database, protocol: StudyProtocol, scenario: Scenario, *, seed: int, n: int) -> Journey:
    """Simulate the twin (seed ``seed``, IRT allocation seed ``seed``), replay its first ``n`` randomized subjects
    into ``db`` (migrated, empty) in-process, and export the service's frames at the twin's cut-off."""
    record, subjects = simulate_for_replay(protocol, scenario, seed=seed, n=n)
    actor = setup_service(db, protocol, seed=seed, start=scenario.accrual.start)
    report = replay(InProcessClient(db, protocol.id, actor), record.frames, subjects)
    service = export_frames(db, protocol.id, cutoff=record.cutoff)
    return Journey(twin_subset(record.frames, list(subjects)), service, record.cutoff, report)


def print_report(report: ReplayReport, cutoff: dt.date, *, limit: int = 20) -> None:
    """The replay's summary: patients, steps, refusals with the service's reasons, dose-decision differences."""
    console.print(
        f"replayed {len(report.subjects)} patients, {report.steps} steps; "
        f"{len(report.refused)} refused by the service, {len(report.dose_mismatches)} dose decisions "
        f"differ from the twin's (cut-off {cutoff})",
        highlight=False,
    )
    reasons: dict[str, int] = {}
    for _, _, message in report.refused:  # grouped with the subject and the dates left out
        key = re.sub(r"subjects?[/ ][^/: ]+", "subject …", message.splitlines()[0])
        key = re.sub(r"\d{4}-\d{2}-\d{2}", "…", key)
        reasons[key] = reasons.get(key, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1])[:limit]:
        console.print(f"  {count} × refused: {reason}", highlight=False, markup=False)
    for subject, step, message in report.refused[:limit]:
        console.print(f"  refused {subject} {step}: {message.splitlines()[0]}", highlight=False, markup=False)
    for subject, visit, twin, service in report.dose_mismatches[:limit]:
        console.print(f"  dose {subject} {visit}: twin {twin}, service {service}", highlight=False, markup=False)
    if report.clock_back:
        most = max(days for _, _, days in report.clock_back)
        console.print(
            f"  {len(report.clock_back)} steps went back in time (at most {most} days): the twin numbers patients in "
            "screening order, so a randomization may wait for an earlier-numbered, later-randomized patient",
            highlight=False,
        )


def _setup_only(database: Database, protocol: StudyProtocol, seed: int, password: str | None) -> None:
    from trialtwin.cli.simulate import load_scenario

    secret = password or secrets.token_urlsafe(12)
    admin_secret = secrets.token_urlsafe(12)
    start = load_scenario(None, protocol.id).accrual.start
    setup_service(database, protocol, seed=seed, start=start, password=secret, admin_password=admin_secret)
    shown = database.url.render_as_string(hide_password=True)
    console.print(
        f"study {protocol.id} loaded in {shown} with IRT seed {seed}; replay user [bold]{REPLAY_USER}[/] "
        f"password [bold]{escape(secret)}[/] (investigator at every site, admin for the virtual clock); "
        f"administrator {REPLAY_ADMIN} password {escape(admin_secret)}",
        highlight=False,
    )
    console.print(
        f"next: [bold]trialtwin serve --db {escape(shown)} --virtual-clock[/], then "
        f"[bold]trialtwin simulate --study {protocol.id} --via http://127.0.0.1:8000 --seed {seed} --n 50 "
        f"--user {REPLAY_USER} --password '{escape(secret)}'[/]",
        highlight=False,
    )


def journey_command(
    db: Annotated[str, typer.Option("--db", help="Database URL of a new (empty) service database to fill.")],
    n: Annotated[int, typer.Option("--n", min=1, max=2000, help="Randomized patients to replay.")] = 50,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the twin and of the IRT's list.")] = 1,
    study: Annotated[str, typer.Option("--study", help="Built-in study id.")] = "ever-132-002",
    setup_only: Annotated[
        bool,
        typer.Option(
            "--setup-only",
            help="Only set the database up for a live replay (trialtwin simulate --via): the study with IRT seed "
            "--seed and the replay user, whose password is printed.",
        ),
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="With --setup-only: the replay user's password (default: a random one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replay the twin's first N patients through the service use cases (in-process), into an empty database.

    Then [bold]trialtwin export --db URL --out DIR[/] and [bold]trialtwin analyze DIR[/] run on what the service
    recorded. Example: [bold]trialtwin journey --db sqlite:///journey.db --n 50[/]

    With [bold]--setup-only[/] the database is only prepared for a replay through a live server
    ([bold]trialtwin serve --virtual-clock[/] and [bold]trialtwin simulate --via URL[/]).
    """
    from trialtwin.protocol import load_protocol
    from trialtwin.services.users import MIN_PASSWORD_LENGTH
    from trialtwin.store.errors import StoreError
    from trialtwin.store.migrations import upgrade

    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise StoreError(f"--password needs at least {MIN_PASSWORD_LENGTH} characters")
    protocol = load_protocol(study)
    database = Database(db)
    try:
        upgrade(database)
        with database.read_session() as session:
            if session.execute(select(func.count()).select_from(Study)).scalar_one():
                raise StoreError(f"database {database.url.render_as_string(hide_password=True)} is not empty")
        if setup_only:
            _setup_only(database, protocol, seed, password)
            return
        result = run_journey(database, protocol, Scenario(), seed=seed, n=n)
    finally:
        database.dispose()
    print_report(result.report, result.cutoff)


class HttpClient:
    """:class:`ServiceClient` over the JSON API (web-contract.md, ``/api/v1``) as ``username``.

    The server stamps each step with its own clock. ``set_time`` (a hook, as in the in-process contract test)
    or ``virtual_clock=True`` (a live ``trialtwin serve --virtual-clock``: ``PUT /api/v1/virtual-clock``, which
    needs the admin role) moves that clock to the step's time first. An expired API token (tokens live at most
    30 days of server time) is renewed once and the request retried. A 4xx answer to a step becomes a
    :class:`ServiceError` carrying the server's message, so the replay reports it like an in-process refusal;
    401, 403 and 5xx answers, and any answer to the clock other than 200, raise :class:`ReplayError`.
    """

    def __init__(
        self,
        http: Any,
        study_id: str,
        username: str,
        password: str,
        *,
        set_time: Callable[[dt.datetime], None] | None = None,
        virtual_clock: bool = False,
    ) -> None:
        self.http, self.study, self.username, self.password = http, study_id, username, password
        self.set_time = set_time
        self.virtual_clock = virtual_clock
        self.token: str | None = None
        self.server_time: dt.datetime | None = None

    def _login(self) -> None:
        answer = self.http.post(
            "/api/v1/tokens", json={"username": self.username, "password": self.password, "study_id": self.study}
        )
        if answer.status_code != 201:
            raise ReplayError(f"login as {self.username} to study {self.study} failed: {_detail(answer)}")
        self.token = answer.json()["token"]

    def _send(self, method: str, url: str, payload: Any) -> Any:
        if self.token is None:
            self._login()
        for attempt in (1, 2):
            answer = self.http.request(method, url, json=payload, headers={"Authorization": f"Bearer {self.token}"})
            if answer.status_code == 401 and attempt == 1:
                self._login()
                continue
            break
        if answer.status_code in (401, 403) or answer.status_code >= 500:
            raise ReplayError(f"{method} {url} as {self.username}: {_detail(answer)}")
        return answer

    def move_clock(self, at: dt.datetime) -> None:
        """Set the server's virtual clock to ``at`` (stepping back only when ``at`` is earlier than the last)."""
        if at == self.server_time:
            return
        back = self.server_time is not None and at < self.server_time
        answer = self._send("PUT", "/api/v1/virtual-clock", {"now": at.isoformat(), "back": back})
        if answer.status_code == 404:
            raise ReplayError("the server runs no virtual clock: start it with trialtwin serve --virtual-clock")
        if answer.status_code == 409 and self.server_time is None:
            raise ReplayError(
                f"the server's virtual clock is past the twin's first step ({at.isoformat()}): replay into a new "
                "database set up with trialtwin journey --db URL --setup-only --seed SEED"
            )
        if answer.status_code != 200:
            raise ReplayError(f"cannot set the server's virtual clock to {at.isoformat()}: {_detail(answer)}")
        self.server_time = at

    def _call(self, method: str, path: str, body: Any, at: dt.datetime) -> Any:
        if self.set_time is not None:
            self.set_time(at)
        if self.virtual_clock:
            self.move_clock(at)
        url = f"/api/v1/studies/{self.study}/{path}"
        payload = json.loads(json.dumps(body, default=_json_default)) if body is not None else None
        answer = self._send(method, url, payload)
        if answer.status_code >= 400:
            raise ServiceError(f"{answer.status_code} {method} {path}: {_detail(answer, full=False)}")
        return answer.json() if answer.content else None

    def _subject(self, screening_id: str, step: str) -> str:
        return f"subjects/{screening_id}/{step}"

    def register(self, site: str, *, at: dt.datetime) -> str:
        return str(self._call("POST", "subjects", {"site": site}, at)["screening_id"])

    def consent(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None:
        self._call(
            "POST", self._subject(screening_id, "consent"), {"consent_date": date, "form_version": "ICF replay"}, at
        )

    def eligibility(self, screening_id: str, facts: Mapping[str, Any], *, at: dt.datetime) -> str:
        return str(self._call("PUT", self._subject(screening_id, "eligibility"), {"facts": dict(facts)}, at)["status"])

    def randomize(self, screening_id: str, *, at: dt.datetime) -> tuple[str, str]:
        answer = self._call("POST", self._subject(screening_id, "randomization"), None, at)
        return str(answer["subject_number"]), str(answer["arm"])

    def baseline(self, screening_id: str, weight_kg: float, height_cm: float, ecog: int, *, at: dt.datetime) -> None:
        body = {"weight_kg": weight_kg, "height_cm": height_cm, "ecog": ecog}
        self._call("POST", self._subject(screening_id, "baseline"), body, at)

    def dosing_visit(self, screening_id: str, visit: DosingVisitIn, *, at: dt.datetime) -> str:
        body = {
            "cycle": visit.cycle,
            "day": visit.day,
            "visit_date": visit.visit_date,
            "weight_kg": visit.weight_kg,
            "labs": dict(visit.labs),
            "regimen": visit.regimen,
        }
        return str(self._call("POST", self._subject(screening_id, "visits"), body, at)["action"])

    def labs(self, screening_id: str, date: dt.date, labs: Mapping[str, Any], *, at: dt.datetime) -> None:
        self._call("POST", self._subject(screening_id, "labs"), {"sample_date": date, "labs": dict(labs)}, at)

    def adverse_event(self, screening_id: str, event: AdverseEventIn, *, at: dt.datetime) -> int:
        body = {k: v for k, v in dataclasses.asdict(event).items() if v is not None}
        return int(self._call("POST", self._subject(screening_id, "adverse-events"), body, at)["id"])

    def resolve(self, screening_id: str, event_id: int, date: dt.date, *, at: dt.datetime) -> None:
        path = self._subject(screening_id, f"adverse-events/{event_id}/resolution")
        self._call("POST", path, {"resolution": date}, at)

    def assessment(self, screening_id: str, scan: TumourAssessmentIn, *, at: dt.datetime) -> None:
        self._call("POST", self._subject(screening_id, "assessments"), dataclasses.asdict(scan), at)

    def end_of_treatment(self, screening_id: str, date: dt.date, reason: str, *, at: dt.datetime) -> None:
        self._call("POST", self._subject(screening_id, "end-of-treatment"), {"eot_date": date, "reason": reason}, at)

    def survival_contact(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None:
        self._call("POST", self._subject(screening_id, "survival-contacts"), {"contact_date": date}, at)

    def withdrawal(self, screening_id: str, date: dt.date, *, at: dt.datetime) -> None:
        self._call("POST", self._subject(screening_id, "withdrawal"), {"withdrawal_date": date}, at)

    def death(self, screening_id: str, date: dt.date, cause: str, *, at: dt.datetime) -> None:
        self._call("POST", self._subject(screening_id, "death"), {"death_date": date, "cause": cause}, at)


def _detail(answer: Any, *, full: bool = True) -> Any:
    """The server's message: ``detail`` of a JSON answer (with the status when ``full``), else the text."""
    detail = (
        answer.json().get("detail")
        if answer.headers.get("content-type", "").startswith("application/json")
        else answer.text
    )
    return f"{answer.status_code} {detail}" if full else detail


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} has no JSON form")


def calendar_order(plans: list[list[_Step]]) -> list[tuple[int, _Step]]:
    """``(patient rank, step)`` of every plan in the order the trial ran: always the earliest pending step
    (ties by rank), except that patients are randomized in rank order (the twin's allocation order, which gives
    the subject numbers and fills the IRT's list). The twin numbers patients in screening order but dates their
    randomization up to days later, so a patient's randomization can wait for an earlier-numbered one randomized
    later; then time steps back to that patient's own date (the only backward steps of the replay)."""
    heads = [0] * len(plans)
    next_rank = 0
    out: list[tuple[int, _Step]] = []
    while True:
        best: tuple[dt.datetime, int] | None = None
        for rank, plan in enumerate(plans):
            if heads[rank] == len(plan):
                continue
            step = plan[heads[rank]]
            if step.kind == "randomize" and rank != next_rank:
                continue
            if best is None or (step.at, rank) < best:
                best = (step.at, rank)
        if best is None:
            return out
        rank = best[1]
        step = plans[rank][heads[rank]]
        heads[rank] += 1
        next_rank += step.kind == "randomize"
        out.append((rank, step))


def replay(
    client: ServiceClient,
    record_frames: Mapping[str, pd.DataFrame],
    subjects: Mapping[str, tuple[str, dt.date, Candidate]],
    *,
    on_step: Callable[[dt.datetime, ReplayReport], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay ``subjects`` (twin subject id → site, screening date, candidate; in randomization order) in calendar
    order (:func:`calendar_order`), as the trial ran. A refused entry step (register … baseline) raises
    :class:`ReplayError`; any other refused step is reported. ``on_plan(steps)`` is called once the steps are
    planned, ``on_step(time, report)`` after each step."""
    report = ReplayReport()
    ids = list(subjects)
    plans = [plan_subject(client, record_frames, s, screened, report) for s, screened in subjects.items()]
    order = calendar_order(plans)
    if on_plan is not None:
        on_plan(len(order))
    latest: dt.datetime | None = None
    for rank, step in order:
        if latest is not None and step.at < latest:
            report.clock_back.append((ids[rank], step.label, (latest - step.at).days))
        latest = step.at if latest is None else max(latest, step.at)
        report.steps += 1
        try:
            step.run(step.at)
        except ServiceError as exc:
            if step.fatal:
                raise ReplayError(f"{ids[rank]} {step.label}: {exc}") from None
            report.refused.append((ids[rank], step.label, str(exc)))
        if on_step is not None:
            on_step(step.at, report)
    return report


def simulate_for_replay(
    protocol: StudyProtocol, scenario: Scenario, *, seed: int, n: int
) -> tuple[Any, dict[str, tuple[str, dt.date, Candidate]]]:
    """The twin record (allocation seed ``seed``) and its first ``n`` randomized subjects with what the replay
    needs (site, screening date, candidate), in randomization order."""
    screened: dict[str, tuple[str | None, Candidate]] = {}
    record = simulate_trial(
        protocol,
        scenario,
        rng=np.random.default_rng(seed),
        allocation_seed=seed,
        on_screened=lambda scr, subject, cand: screened.__setitem__(scr, (subject, cand)),
    )
    subject_ids = list(record.frames["subjects"]["subject_id"])[:n]
    found: dict[str, tuple[str, dt.date, Candidate]] = {}
    for row in _records(record.frames["screening"]):
        subject, cand = screened[str(row["screening_id"])]
        if subject is not None and subject in subject_ids:
            found[subject] = (str(row["site_id"]), _date(row["screened_date"]), cand)
    return record, {s: found[s] for s in subject_ids}


def replay_live(
    url: str,
    protocol: StudyProtocol,
    scenario: Scenario,
    *,
    seed: int,
    n: int,
    username: str,
    password: str,
    on_step: Callable[[dt.datetime, ReplayReport], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> tuple[Any, dict[str, tuple[str, dt.date, Candidate]], ReplayReport]:
    """Simulate the twin (:func:`simulate_for_replay`) and replay its first ``n`` randomized patients through the
    live server at ``url`` (``trialtwin serve --virtual-clock`` on a database set up by ``trialtwin journey
    --setup-only --seed SEED``) as ``username``, moving the server's virtual clock to each step's time.
    ``on_plan`` and ``on_step`` go to :func:`replay`. Returns the twin record, its replayed
    patients and the replay's report. Unreachable server, no virtual clock, wrong credentials or roles, a study
    set up otherwise: :class:`ReplayError` (one line)."""
    import httpx

    base = url.rstrip("/")
    try:
        with httpx.Client(base_url=base, timeout=60.0) as http:
            probe = http.get("/api/v1/virtual-clock")
            if probe.status_code == 404:
                raise ReplayError(
                    f"the server at {base} runs no virtual clock: start it with trialtwin serve --virtual-clock "
                    "(twin replays on a scratch database only)"
                )
            if probe.status_code != 200 or probe.headers.get("x-trialtwin-virtual-clock") != "on":
                raise ReplayError(f"{base} does not answer like a trialtwin server: {_detail(probe)}")
            record, subjects = simulate_for_replay(protocol, scenario, seed=seed, n=n)
            client = HttpClient(http, protocol.id, username, password, virtual_clock=True)
            client._login()  # wrong credentials or an unknown study: said before anything is sent
            report = replay(client, record.frames, subjects, on_step=on_step, on_plan=on_plan)
    except httpx.TransportError as exc:
        raise ReplayError(f"cannot reach the server at {base}: {type(exc).__name__}: {exc}") from None
    return record, subjects, report


def simulate_via(
    url: str,
    protocol: StudyProtocol,
    scenario: Scenario,
    *,
    seed: int,
    n: int,
    user: str,
    password: str | None,
    report_path: Path | None = None,
) -> ReplayReport:
    """``trialtwin simulate --via URL``: :func:`replay_live` with a progress bar (steps, with the server's date and
    the patients registered) and the summary; ``report_path`` gets the report as JSON."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from trialtwin.cli.console import err_console

    if not password:
        raise ReplayError("--via needs the replay user's password: --password or $TRIALTWIN_PASSWORD")
    with Progress(
        TextColumn("[bold]replaying[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"twin seed {seed} via {url}", total=None)

        def planned(steps: int) -> None:
            progress.update(task, total=steps, description=f"{n} patients via {url}")

        def step(at: dt.datetime, report: ReplayReport) -> None:
            progress.update(
                task,
                advance=1,
                description=f"{at.date()} · patients {len(report.subjects)}/{n} · refused {len(report.refused)}",
            )

        record, _, report = replay_live(
            url, protocol, scenario, seed=seed, n=n, username=user, password=password, on_step=step, on_plan=planned
        )
    print_report(report, record.cutoff)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(
            json.dumps({**dataclasses.asdict(report), "cutoff": str(record.cutoff)}, indent=2) + "\n"
        )
    return report
