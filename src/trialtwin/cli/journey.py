"""The twin drives the service: replay a simulated trial, patient by patient, through the service use cases.

Each virtual patient of a twin record (``trialtwin.sim.trial.simulate_trial``) is pushed through a
:class:`ServiceClient` in the order the twin randomized them, each patient's steps in date order, each step at
its own time (the client's clock): register, consent, eligibility facts, randomize, baseline, then dosing visits
with their weight and pre-dose labs, other labs, adverse events (at onset; the resolution when it comes), scans
per reader with their lesion measurements, end of treatment, survival contacts, withdrawal, death. The service
decides doses, grades and RECIST responses itself; the record's own decisions are not sent.

Allocation: the twin is run with ``allocation_seed`` and the study loaded with the same seed, so both use the
IRT's per-slot generator (``trialtwin.store.ledger.rng_for``); replaying in the twin's randomization order then
gives the same arms, strata and subject numbers.

The golden journey (tests/integration/test_golden_journey.py) compares ``derive_all`` of the service's export
with ``derive_all`` of the twin's frames for the same patients.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Protocol

import numpy as np
import pandas as pd
import typer
from sqlalchemy import func, select

from trialtwin.cli.console import console
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
#: The replay's investigator (all sites), made by :func:`setup_service`.
REPLAY_USER = "replay-investigator"
REPLAY_PASSWORD = "replay investigator password 0"
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


@dataclass
class ReplayReport:
    """What the replay did: subjects pushed, steps sent, steps the service refused (with its message), and the
    dose decisions where the service and the twin record disagree."""

    subjects: dict[str, str] = field(default_factory=dict)  # twin subject id → screening id in the service
    steps: int = 0
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # subject, step, message
    dose_mismatches: list[tuple[str, str, str, str]] = field(default_factory=list)  # subject, visit, twin, service


def _date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


def _plain(value: Any) -> Any:
    """JSON-able Python values (NumPy scalars become int/float/bool)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


@dataclass(frozen=True, slots=True)
class _Step:
    date: dt.date
    kind: str
    order: int
    run: Callable[..., Any]  # called with at=<the step's time>


def replay_subject(
    client: ServiceClient,
    frames: Mapping[str, pd.DataFrame],
    subject_id: str,
    screened: tuple[str, dt.date, Candidate],
    report: ReplayReport,
) -> None:
    """Push one randomized twin subject through ``client`` (see the module docstring)."""
    site, screened_date, cand = screened
    subjects = frames["subjects"]
    subj = _records(subjects[subjects["subject_id"] == subject_id])[0]
    rand_date = _date(subj["randomized_date"])
    at = dt.datetime.combine(screened_date, NOON)
    sid = client.register(site, at=at)
    report.subjects[subject_id] = sid
    client.consent(sid, screened_date, at=at)
    status = client.eligibility(sid, _plain(cand.facts), at=at)
    if status != "eligible":
        raise ServiceError(f"{subject_id}: the service finds the twin's eligible subject {status}")
    number, arm = client.randomize(sid, at=dt.datetime.combine(rand_date, NOON))
    if (number, arm) != (subject_id, subj["arm"]):
        raise ServiceError(f"{subject_id}: the service allocated {number} to {arm}, the twin to {subj['arm']}")
    client.baseline(
        sid,
        float(subj["weight_kg"]),
        float(subj["height_cm"]),
        int(subj["ecog"]),
        at=dt.datetime.combine(rand_date, NOON),
    )
    steps: list[_Step] = []

    def add(date: dt.date, kind: str, run: Callable[..., Any]) -> None:
        steps.append(_Step(date, kind, len(steps), run))

    def of(name: str) -> pd.DataFrame:
        frame = frames[name]
        return frame[frame["subject_id"] == subject_id]

    _add_treatment(add, client, sid, subject_id, of("exposure"), of("labs"), cand, subj, report)
    ae_ids: dict[int, int] = {}

    def record_ae(key: int, event: AdverseEventIn, *, at: dt.datetime) -> None:
        ae_ids[key] = client.adverse_event(sid, event, at=at)

    def resolve_ae(key: int, date: dt.date, *, at: dt.datetime) -> None:
        if key not in ae_ids:
            raise ServiceError("not sent: the service refused this adverse event")
        client.resolve(sid, ae_ids[key], date, at=at)

    for i, ae in enumerate(_records(of("adverse_events"))):
        event = AdverseEventIn(
            str(ae["term"]), _date(ae["start_date"]), grade=int(ae["grade"]), serious=bool(ae["serious"])
        )
        add(event.onset, "ae", partial(record_ae, i, event))
        if not pd.isna(ae["end_date"]):
            add(_date(ae["end_date"]), "resolve", partial(resolve_ae, i, _date(ae["end_date"])))
    for scan, record_date in _scans(of("lesions"), rand_date):
        add(record_date, "scan", partial(client.assessment, sid, scan))
    for row in _records(of("disposition")):
        when = _date(row["date"])
        if row["event"] == "end_of_treatment":
            add(when, "eot", partial(client.end_of_treatment, sid, when, str(row["reason"])))
        elif row["event"] == "end_of_study" and row["reason"] == "withdrawal":
            add(when, "withdrawal", partial(client.withdrawal, sid, when))
    for row in _records(of("survival_followup")):
        add(_date(row["date"]), "contact", partial(client.survival_contact, sid, _date(row["date"])))
    for row in _records(of("deaths")):
        add(_date(row["date"]), "death", partial(client.death, sid, _date(row["date"]), str(row["cause"])))
    for step in sorted(steps, key=lambda s: (s.date, PRIORITY[s.kind], s.order)):
        report.steps += 1
        try:
            step.run(at=dt.datetime.combine(max(step.date, rand_date), NOON))
        except ServiceError as exc:
            report.refused.append((subject_id, f"{step.kind} {step.date}", str(exc)))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _add_treatment(
    add: Callable[[dt.date, str, Callable[..., Any]], None],
    client: ServiceClient,
    sid: str,
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

    def dose(visit: DosingVisitIn, twin: str, *, at: dt.datetime) -> None:
        action = client.dosing_visit(sid, visit, at=at)
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
            add(when, "labs", partial(client.labs, sid, when, {"anc": value}))


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


def setup_service(db: Database, protocol: StudyProtocol, *, seed: int, start: dt.date) -> int:
    """Load ``protocol`` with randomization ``seed`` and create a replay investigator (all sites); returns the
    investigator's user id. The database must be migrated and empty."""
    at = dt.datetime.combine(start - dt.timedelta(days=30), NOON)
    clock = lambda: at  # noqa: E731
    admin = bootstrap_admin(db, "replay-admin", "Replay Admin", "replay admin password 0", clock=clock).id
    load_study(db, protocol, seed=seed, actor=admin, clock=clock)
    user = create_user(db, REPLAY_USER, "Replay Investigator", REPLAY_PASSWORD, actor=admin, clock=clock)
    grant_role(db, user.username, "investigator", study_id=protocol.id, site=None, actor=admin, clock=clock)
    return user.id


def run_journey(db: Database, protocol: StudyProtocol, scenario: Scenario, *, seed: int, n: int) -> Journey:
    """Simulate the twin (seed ``seed``, IRT allocation seed ``seed``), replay its first ``n`` randomized subjects
    into ``db`` (migrated, empty) in-process, and export the service's frames at the twin's cut-off."""
    record, subjects = simulate_for_replay(protocol, scenario, seed=seed, n=n)
    actor = setup_service(db, protocol, seed=seed, start=scenario.accrual.start)
    report = replay(InProcessClient(db, protocol.id, actor), record.frames, subjects)
    service = export_frames(db, protocol.id, cutoff=record.cutoff)
    return Journey(twin_subset(record.frames, list(subjects)), service, record.cutoff, report)


def journey_command(
    db: Annotated[str, typer.Option("--db", help="Database URL of a new (empty) service database to fill.")],
    n: Annotated[int, typer.Option("--n", min=1, max=2000, help="Randomized patients to replay.")] = 50,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the twin and of the IRT's list.")] = 1,
    study: Annotated[str, typer.Option("--study", help="Built-in study id.")] = "ever-132-002",
) -> None:
    """Replay the twin's first N patients through the service use cases (in-process), into an empty database.

    Then [bold]trialtwin export --db URL --out DIR[/] and [bold]trialtwin analyze DIR[/] run on what the service
    recorded. Example: [bold]trialtwin journey --db sqlite:///journey.db --n 50[/]
    """
    from trialtwin.protocol import load_protocol
    from trialtwin.store.errors import StoreError
    from trialtwin.store.migrations import upgrade

    database = Database(db)
    try:
        upgrade(database)
        with database.read_session() as session:
            if session.execute(select(func.count()).select_from(Study)).scalar_one():
                raise StoreError(f"database {database.url.render_as_string(hide_password=True)} is not empty")
        result = run_journey(database, load_protocol(study), Scenario(), seed=seed, n=n)
    finally:
        database.dispose()
    console.print(
        f"replayed {len(result.report.subjects)} patients, {result.report.steps} steps; "
        f"{len(result.report.refused)} refused by the service, {len(result.report.dose_mismatches)} dose decisions "
        f"differ from the twin's (cut-off {result.cutoff})",
        highlight=False,
    )
    for subject, step, message in result.report.refused[:20]:
        console.print(f"  refused {subject} {step}: {message.splitlines()[0]}", highlight=False)
    for subject, visit, twin, service in result.report.dose_mismatches[:20]:
        console.print(f"  dose {subject} {visit}: twin {twin}, service {service}", highlight=False)


class HttpClient:
    """:class:`ServiceClient` over the JSON API (web-contract.md, ``/api/v1``) as ``username``.

    The server stamps each step with its own clock; ``set_time`` (given only when the server runs with a replay
    clock, as in the contract test) moves that clock to the step's time first. An expired API token (tokens
    live at most 30 days of server time) is renewed once and the request retried. A 4xx answer becomes a
    :class:`ServiceError` carrying the server's message, so the replay reports it like an in-process refusal.
    """

    def __init__(
        self,
        http: Any,
        study_id: str,
        username: str,
        password: str,
        *,
        set_time: Callable[[dt.datetime], None] | None = None,
    ) -> None:
        self.http, self.study, self.username, self.password = http, study_id, username, password
        self.set_time = set_time
        self.token: str | None = None

    def _login(self) -> None:
        answer = self.http.post(
            "/api/v1/tokens", json={"username": self.username, "password": self.password, "study_id": self.study}
        )
        if answer.status_code != 201:
            raise ServiceError(f"login as {self.username} failed: {answer.status_code} {answer.text}")
        self.token = answer.json()["token"]

    def _call(self, method: str, path: str, body: Any, at: dt.datetime) -> Any:
        if self.set_time is not None:
            self.set_time(at)
        if self.token is None:
            self._login()
        url = f"/api/v1/studies/{self.study}/{path}"
        payload = json.loads(json.dumps(body, default=_json_default)) if body is not None else None
        for attempt in (1, 2):
            answer = self.http.request(method, url, json=payload, headers={"Authorization": f"Bearer {self.token}"})
            if answer.status_code == 401 and attempt == 1:
                self._login()
                continue
            break
        if answer.status_code >= 400:
            detail = (
                answer.json().get("detail")
                if answer.headers.get("content-type", "").startswith("application/json")
                else answer.text
            )
            raise ServiceError(f"{answer.status_code} {method} {path}: {detail}")
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


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} has no JSON form")


def replay(
    client: ServiceClient,
    record_frames: Mapping[str, pd.DataFrame],
    subjects: Mapping[str, tuple[str, dt.date, Candidate]],
) -> ReplayReport:
    """Replay ``subjects`` (twin subject id → site, screening date, candidate; in randomization order)."""
    report = ReplayReport()
    for subject_id, screened in subjects.items():
        replay_subject(client, record_frames, subject_id, screened, report)
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
