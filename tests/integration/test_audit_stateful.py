"""Audit completeness under any order of use cases (trial-system-requirements A1, A2, A7, B8, G8).

A Hypothesis state machine (``RuleBasedStateMachine``) calls the service use cases on a SQLite file database in
any order, with valid, out-of-order and invalid input, as one of four users (investigator, a coordinator of
CN-002 only, a monitor who may not enter data). After every step:

* a refusal (any ``TrialtwinError``) leaves every table as it was, audit head included (B8: no side effects);
* a success writes exactly one new audit entry per record it created or changed, and none for anything else
  (A1, A7: randomisation and signatures are workflow actions), at least one in all;
* every new entry names the acting user, a timezone-aware UTC time (the server clock of the step), the action,
  the table, the record id and the new values; an update also has the old values and a reason (A2);
* the model of the workflow agrees: randomisation only succeeds for an eligible subject, clinical data only for
  a randomised one (B8, 21 CFR 11.10(f)).

At the end of each example, replaying the audit trail rebuilds every current record exactly
(``store.audit.rebuild_records``) and the hash chain verifies (A2, A9).

G8 asks for 5,000 steps. The suite runs ``TRIALTWIN_STATEFUL_STEPS`` (default 200) steps in examples of up to 50;
``TRIALTWIN_STATEFUL_STEPS=5000`` runs the full figure (docs/service/store-and-audit.md gives the timing).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _service_cases import _all_records
from _trial import PASSWORD, StepClock, Trial, TrialIds, copy_sqlite, facts_for
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from trialtwin.protocol import Protocol
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services import (
    AdverseEventIn,
    BaselineIn,
    DosingVisitIn,
    correct_record,
    enter_eligibility,
    randomize,
    record_adverse_event,
    record_baseline,
    record_consent,
    record_death,
    record_dosing_visit,
    record_end_of_treatment,
    record_labs,
    record_withdrawal,
    register_screening,
    resolve_adverse_event,
)
from trialtwin.services.signatures import sign
from trialtwin.store import Database
from trialtwin.store.audit import rebuild_records, verify_chain
from trialtwin.store.tables import AuditHead, AuditLog

STEPS = int(os.environ.get("TRIALTWIN_STATEFUL_STEPS", "200"))
STEPS_PER_EXAMPLE = 50
D0 = dt.date(2025, 3, 3)  # the machine's server clock starts on this day at 09:00 UTC
ACTIONS = {"create", "update", "delete"}
USERNAMES = {"investigator": "ivan", "coordinator": "cora", "monitor": "mona"}  # tests/integration/_trial.py

#: Steps run, successes and refusals over the whole test (reported by the test).
TALLY: Counter[str] = Counter()


def _head(trial: Trial) -> tuple[int, str]:
    with trial.db.read_session() as session:
        head = session.get(AuditHead, 1)
        assert head is not None
        return head.seq, head.hash


def _new_entries(trial: Trial, after: int) -> list[AuditLog]:
    with trial.db.read_session() as session:
        return list(session.execute(select(AuditLog).where(AuditLog.seq > after).order_by(AuditLog.seq)).scalars())


class AuditMachine(RuleBasedStateMachine):
    """Use cases in any order; the audit invariants are checked in :meth:`step` after every call."""

    template: tuple[Path, TrialIds]
    protocol: Protocol

    subjects = Bundle("subjects")
    adverse_events = Bundle("adverse_events")

    def __init__(self) -> None:
        super().__init__()
        path, ids = self.template
        self._tmp = tempfile.TemporaryDirectory()
        target = Path(self._tmp.name) / "trial.db"
        copy_sqlite(path, target)
        db = Database(f"sqlite:///{target}", pool_size=2)
        self.trial = Trial(db, StepClock(), ids.admin, ids.investigator, ids.coordinator, ids.monitor, self.protocol)
        self.clock = StepClock(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC), dt.timedelta(minutes=7))
        #: Model of the workflow: screening id → "registered" | "consented" | "eligible" | "not_eligible" |
        #: "randomized"; and the randomised subjects with a baseline.
        self.status: dict[str, str] = {}
        self.baseline: set[str] = set()
        #: Every record now (table, record id → values): what the next step starts from.
        self.records = _all_records(self.trial)

    # ---- the check of every step ---------------------------------------------------------------------------

    def step(self, actor: int, call: Callable[[int, Callable[[], dt.datetime]], Any]) -> Any:
        """Run one use case as ``actor`` and check the audit invariants; returns its result, or None when
        it was refused."""
        TALLY["steps"] += 1
        before, (seq, _) = self.records, _head(self.trial)
        times: list[dt.datetime] = []

        def clock() -> dt.datetime:
            times.append(self.clock())
            return times[-1]

        try:
            result = call(actor, clock)
        except TrialtwinError as exc:
            TALLY["refused"] += 1
            TALLY[f"refused: {type(exc).__name__}"] += 1
            assert _head(self.trial)[0] == seq, "a refused use case appended to the audit trail"
            assert _all_records(self.trial) == before, "a refused use case changed the database"
            return None
        after = self.records = _all_records(self.trial)
        written = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        entries = _new_entries(self.trial, seq)
        per_record = Counter((e.table_name, e.record_id) for e in entries)
        assert set(per_record) == written, f"audited {sorted(per_record)} but wrote {sorted(written)}"
        assert all(n == 1 for n in per_record.values()), f"records audited more than once: {per_record}"
        TALLY["succeeded"] += 1
        TALLY["written"] += len(written)
        if not written:  # e.g. a survival contact that adds nothing: then nothing at all is written
            TALLY["succeeded_without_change"] += 1
        for e in entries:
            where = f"audit entry {e.seq} ({e.table_name} {e.record_id})"
            assert e.user_id == actor, f"{where}: who"
            assert e.at.utcoffset() == dt.timedelta(0) and e.at in times, f"{where}: not the step's UTC time"
            assert e.action in ACTIONS and e.table_name and e.record_id, where
            new = json.loads(e.new_value)
            assert isinstance(new, dict) and new and e.fields == ",".join(sorted(new)), f"{where}: new values"
            if e.action == "update":
                assert e.old_value is not None and set(json.loads(e.old_value)) <= set(new), f"{where}: old values"
                assert e.reason and e.reason.strip(), f"{where}: an update without a reason"
            else:
                assert e.old_value is None, where
            key = (e.table_name, e.record_id)
            assert {k: after[key][k] for k in new} == new, f"{where}: new values differ from the record"
        return result

    # ---- rules ---------------------------------------------------------------------------------------------

    actors = st.sampled_from(["investigator", "investigator", "investigator", "coordinator", "monitor"])
    sites = st.sampled_from(["CN-001", "CN-002", "CN-003", "XX-999"])
    days = st.integers(-2, 3).map(lambda d: D0 + dt.timedelta(days=d))

    def who(self, name: str) -> int:
        return int(getattr(self.trial, name))

    @initialize(target=subjects)
    def first_subject(self) -> str:
        record = self.step(
            self.trial.investigator,
            lambda a, c: register_screening(self.trial.db, self.trial.study, "CN-001", actor=a, clock=c),
        )
        self.status[record.screening_id] = "registered"
        return str(record.screening_id)

    @rule(target=subjects, actor=actors, site=sites)
    def register(self, actor: str, site: str) -> str:
        t = self.trial
        record = self.step(self.who(actor), lambda a, c: register_screening(t.db, t.study, site, actor=a, clock=c))
        if record is None:
            return "XX-999-S001"  # an unknown subject, to be refused by every later use case
        self.status[record.screening_id] = "registered"
        return str(record.screening_id)

    @rule(sid=subjects, actor=actors, day=days, form=st.sampled_from(["ICF v2.0", ""]))
    def consent(self, sid: str, actor: str, day: dt.date, form: str) -> None:
        t = self.trial
        done = self.step(
            self.who(actor),
            lambda a, c: record_consent(t.db, t.study, sid, day, form_version=form, actor=a, clock=c),
        )
        if done is not None:
            assert self.status.get(sid) == "registered", f"consent accepted for a {self.status.get(sid)} subject"
            self.status[sid] = "consented"

    @rule(
        sid=subjects,
        actor=actors,
        stratum=st.integers(0, 7),
        change=st.sampled_from([{}, {}, {"anc": 1.2}, {"anc": "lots"}]),
        reason=st.sampled_from([None, "source document verified"]),
    )
    def eligibility(self, sid: str, actor: str, stratum: int, change: dict[str, Any], reason: str | None) -> None:
        t = self.trial
        facts = facts_for(stratum, **change)
        record = self.step(
            self.who(actor),
            lambda a, c: enter_eligibility(t.db, t.study, sid, facts, reason=reason, actor=a, clock=c),
        )
        if record is not None:
            assert self.status.get(sid) in ("consented", "eligible", "not_eligible"), self.status.get(sid)
            self.status[sid] = str(record.status.value)

    @rule(sid=subjects, actor=actors)
    def randomise(self, sid: str, actor: str) -> None:
        t = self.trial
        result = self.step(self.who(actor), lambda a, c: randomize(t.db, t.study, sid, actor=a, clock=c))
        if result is not None:
            assert self.status.get(sid) == "eligible", f"randomized a {self.status.get(sid)} subject"
            self.status[sid] = "randomized"

    def _clinical(self, sid: str, result: Any) -> None:
        if result is not None:
            assert self.status.get(sid) == "randomized", f"clinical data accepted for a {self.status.get(sid)} subject"

    @rule(sid=subjects, actor=actors, weight=st.sampled_from([70.0, -1.0]))
    def baseline_visit(self, sid: str, actor: str, weight: float) -> None:
        t = self.trial
        data = BaselineIn(weight, 170.0, 1)
        done = self.step(self.who(actor), lambda a, c: record_baseline(t.db, t.study, sid, data, actor=a, clock=c))
        self._clinical(sid, done)
        if done is not None:
            self.baseline.add(sid)

    @rule(
        sid=subjects,
        actor=actors,
        day=days,
        anc=st.sampled_from([2.5, 1.2]),
        regimen=st.sampled_from([None, "eribulin", "bogus"]),
    )
    def dosing_visit(self, sid: str, actor: str, day: dt.date, anc: float, regimen: str | None) -> None:
        t = self.trial
        data = DosingVisitIn(1, 1, day, 70.0, {"anc": anc, "platelets": 220.0}, regimen=regimen)
        done = self.step(self.who(actor), lambda a, c: record_dosing_visit(t.db, t.study, sid, data, actor=a, clock=c))
        self._clinical(sid, done)

    @rule(sid=subjects, actor=actors, day=days, anc=st.sampled_from([0.9, -3.0]))
    def labs(self, sid: str, actor: str, day: dt.date, anc: float) -> None:
        t = self.trial
        done = self.step(
            self.who(actor), lambda a, c: record_labs(t.db, t.study, sid, day, {"anc": anc}, actor=a, clock=c)
        )
        self._clinical(sid, done)

    @rule(target=adverse_events, sid=subjects, actor=actors, day=days, grade=st.sampled_from([2, 3, 9]))
    def adverse_event(self, sid: str, actor: str, day: dt.date, grade: int) -> tuple[str, int]:
        t = self.trial
        event = AdverseEventIn("Nausea", day, grade=grade)
        record = self.step(
            self.who(actor), lambda a, c: record_adverse_event(t.db, t.study, sid, event, actor=a, clock=c)
        )
        self._clinical(sid, record)
        return (sid, -1 if record is None else int(record.id))

    @rule(ae=adverse_events, actor=actors, day=days)
    def resolve(self, ae: tuple[str, int], actor: str, day: dt.date) -> None:
        t = self.trial
        sid, ae_id = ae
        self.step(self.who(actor), lambda a, c: resolve_adverse_event(t.db, t.study, sid, ae_id, day, actor=a, clock=c))

    @rule(
        ae=adverse_events,
        actor=actors,
        change=st.sampled_from([{"grade": 1}, {"grade": 4}, {"term": "Vomiting"}, {"grade": 7}, {"id": 3}]),
        reason=st.sampled_from(["transcription error", ""]),
    )
    def correction(self, ae: tuple[str, int], actor: str, change: dict[str, Any], reason: str) -> None:
        t = self.trial
        sid, ae_id = ae
        self.step(
            self.who(actor),
            lambda a, c: correct_record(
                t.db, t.study, sid, "adverse_events", ae_id, change, reason=reason, actor=a, clock=c
            ),
        )

    @rule(
        sid=subjects,
        actor=actors,
        day=days,
        kind=st.sampled_from(["end_of_treatment", "withdrawal", "death"]),
        code=st.sampled_from(["progression", "adverse_event", "other", "nonsense"]),
    )
    def disposition(self, sid: str, actor: str, day: dt.date, kind: str, code: str) -> None:
        t = self.trial

        def call(a: int, c: Any) -> Any:
            if kind == "end_of_treatment":
                return record_end_of_treatment(t.db, t.study, sid, day, code, actor=a, clock=c)
            if kind == "withdrawal":
                return record_withdrawal(t.db, t.study, sid, day, actor=a, clock=c)
            cause = "progressive_disease" if code == "progression" else code
            return record_death(t.db, t.study, sid, day, cause, actor=a, clock=c)

        self._clinical(sid, self.step(self.who(actor), call))

    @rule(
        sid=subjects,
        actor=actors,
        meaning=st.sampled_from(["authorship", "review", "nonsense"]),
        password=st.sampled_from([PASSWORD, "wrong password"]),
    )
    def signature(self, sid: str, actor: str, meaning: str, password: str) -> None:
        t = self.trial
        self.step(
            self.who(actor),
            lambda a, c: sign(
                t.db, t.study, sid, meaning=meaning, password=password, username=USERNAMES[actor], actor=a, clock=c
            ),
        )

    def _advance(self, sid: str) -> None:
        """The next step of the normal workflow for ``sid`` (as the investigator, with valid input)."""
        t, status = self.trial, self.status.get(sid)
        if status == "registered":
            self.consent(sid, "investigator", D0, "ICF v2.0")
        elif status == "consented":
            self.eligibility(sid, "investigator", len(self.status) % 8, {}, None)
        elif status == "eligible":
            self.randomise(sid, "investigator")
        elif status == "randomized" and sid not in self.baseline:
            self.baseline_visit(sid, "investigator", 70.0)
        elif status == "randomized":
            event = AdverseEventIn("Fatigue", D0, grade=1)
            self.step(t.investigator, lambda a, c: record_adverse_event(t.db, t.study, sid, event, actor=a, clock=c))

    # The normal workflow, three times as likely as any other rule (Hypothesis picks rules uniformly).
    @rule(sid=subjects)
    def advance(self, sid: str) -> None:
        self._advance(sid)

    @rule(sid=subjects)
    def advance_again(self, sid: str) -> None:
        self._advance(sid)

    @rule(sid=subjects)
    def advance_once_more(self, sid: str) -> None:
        self._advance(sid)

    @invariant()
    def chain_head_matches_the_last_entry(self) -> None:
        seq, digest = _head(self.trial)
        last = _new_entries(self.trial, seq - 1)
        assert [(e.seq, e.hash) for e in last] == [(seq, digest)]

    def teardown(self) -> None:
        try:
            with self.trial.db.read_session() as session:
                rebuilt = rebuild_records(session)
                report = verify_chain(session)
            assert report.ok, report.problems
            current = _all_records(self.trial)
            assert {k: json.loads(json.dumps(v)) for k, v in rebuilt.items()} == current
            TALLY["records_rebuilt"] += len(current)
        finally:
            self.trial.db.dispose()
            self._tmp.cleanup()


def test_audit_is_complete_over_random_workflows(
    sqlite_trial_template: tuple[Path, TrialIds], ever: Protocol, record_property: Any
) -> None:
    """G8/A1/A2/A7/B8: ``STEPS`` generated workflow steps (see the module docstring for what each checks)."""
    AuditMachine.template = sqlite_trial_template
    AuditMachine.protocol = ever
    TALLY.clear()
    while TALLY["steps"] < STEPS:  # Hypothesis ends some examples early: run more until STEPS steps are done
        run_state_machine_as_test(
            AuditMachine,
            settings=settings(
                max_examples=-(-(STEPS - TALLY["steps"]) // STEPS_PER_EXAMPLE),
                stateful_step_count=STEPS_PER_EXAMPLE,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    for key, value in sorted(TALLY.items()):
        record_property(key, value)
    print(f"G8: {dict(TALLY)}")
    assert TALLY["succeeded"] > 0 and TALLY["refused"] > 0
    assert TALLY["written"] > 0 and TALLY["records_rebuilt"] > 0
