"""Clinical use-case test cases shared by the SQLite and PostgreSQL modules (each gives its own ``trial``).

References: Trodelvy US PI section 2.3 Tables 1-2 (sacituzumab govitecan 10 mg/kg D1, D8 q21d; withhold D1 if
ANC < 1500/mm3; febrile neutropenia: one level down, 10 → 7.5 mg/kg); NCI CTCAE v5.0 (neutrophil count
decreased: grade 2 < 1.5, grade 3 < 1.0, grade 4 < 0.5 x 10^9/L); RECIST 1.1 (Eisenhauer 2009) §4.3.1: PR is
≥ 30 % below the baseline sum, PD ≥ 20 % and ≥ 5 mm above the nadir.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from _service_cases import snapshot
from _trial import StepClock, Trial, facts_for
from sqlalchemy import select

from trialtwin.services import (
    AdverseEventIn,
    BaselineIn,
    DosingVisitIn,
    FieldError,
    NewLesion,
    NonTargetFinding,
    PermissionDenied,
    TargetMeasurement,
    TumourAssessmentIn,
    WorkflowError,
    correct_record,
    export_frames,
    get_schedule,
    randomize,
    record_adverse_event,
    record_baseline,
    record_death,
    record_dosing_visit,
    record_end_of_treatment,
    record_labs,
    record_survival_contact,
    record_tumour_assessment,
    record_withdrawal,
    resolve_adverse_event,
)
from trialtwin.store.audit import verify_chain
from trialtwin.store.tables import AuditLog, Exposure, Lab

D0 = dt.date(2025, 3, 3)  # randomization date of the trial fixtures (StepClock starts 2025-03-03 09:00 UTC)
GOOD_LABS = {"anc": 2.5, "platelets": 220.0}


def later(days: int = 200) -> StepClock:
    """A server clock ``days`` after randomization (clinical dates up to then are not in the future)."""
    return StepClock(dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC) + dt.timedelta(days=days))


def on_arm(trial: Trial, arm: str, site: str = "CN-001") -> str:
    """A subject randomized to ``arm`` (subjects are screened in turn until the seeded list gives it)."""
    for stratum in range(16):
        sid = trial.screen(site, facts_for(stratum % 8))
        if randomize(trial.db, trial.study, sid, actor=trial.investigator, clock=trial.clock).arm == arm:
            return sid
    raise AssertionError(f"no subject on arm {arm} after 16 randomizations")


def sg_subject(trial: Trial, clock: StepClock) -> str:
    sid = on_arm(trial, "sg")
    record_baseline(trial.db, trial.study, sid, BaselineIn(70.0, 170.0, 1), actor=trial.investigator, clock=clock)
    return sid


def visit(trial: Trial, sid: str, clock: StepClock, cycle: int, day: int, date: dt.date, **kw: Any) -> Any:
    data = DosingVisitIn(cycle, day, date, kw.pop("weight_kg", 70.0), kw.pop("labs", GOOD_LABS), **kw)
    return record_dosing_visit(trial.db, trial.study, sid, data, actor=trial.investigator, clock=clock)


# ---- dosing ----------------------------------------------------------------------------------------------------


def test_a_routine_dose_is_given_at_the_starting_level_and_recorded(trial: Trial) -> None:
    """Trodelvy PI 2.1: 10 mg/kg; 70 kg → 700 mg. Labs are stored with their CTCAE grade."""
    clock = later()
    sid = sg_subject(trial, clock)
    result = visit(trial, sid, clock, 1, 1, D0, labs={"anc": 1.6, "platelets": 220.0})
    assert (result.action, result.level, result.dose, result.dose_mg, result.reason) == (
        "give",
        0,
        10.0,
        700.0,
        "no dose-modification rule applies: give at level 0",
    )
    grades = {lab.test: lab.grade for lab in result.labs}
    assert grades == {"anc": 1, "platelets": 0}  # 1.6 < LLN 1.8 but ≥ 1.5: grade 1
    frames = export_frames(trial.db, trial.study)
    row = frames["exposure"].iloc[0]
    assert (row["action"], row["dose_mg"], row["reason"], row["drug"]) == ("give", 700.0, "", "sacituzumab govitecan")


def test_low_anc_on_day_1_holds_and_the_re_evaluation_counts_the_delay(trial: Trial) -> None:
    """Trodelvy Table 2: ANC < 1500/mm3 on Day 1 → withhold; re-evaluated a week later (delay 7 days)."""
    clock = later()
    sid = sg_subject(trial, clock)
    held = visit(trial, sid, clock, 1, 1, D0, labs={"anc": {"value": 1200, "unit": "/uL"}, "platelets": 200.0})
    assert (held.action, held.dose, held.dose_mg) == ("hold", 0.0, 0.0)
    assert "SG-ANC-D1" in held.reason and "Trodelvy" in held.source
    assert held.labs[0].value == pytest.approx(1.2) and held.labs[0].grade == 2
    given = visit(trial, sid, clock, 1, 1, D0 + dt.timedelta(days=7))
    assert (given.action, given.delay_days, given.dose_mg) == ("give", 7, 700.0)


def test_febrile_neutropenia_reduces_the_next_dose_one_level(trial: Trial) -> None:
    """Trodelvy Table 2: febrile neutropenia → 25 % reduction (level −1 = 7.5 mg/kg = 525 mg at 70 kg). The AE
    is attributed to the C1D1 dose it follows; while ongoing it withholds the dose (SG-FN-HOLD)."""
    clock = later()
    sid = sg_subject(trial, clock)
    visit(trial, sid, clock, 1, 1, D0)
    ae = record_adverse_event(
        trial.db,
        trial.study,
        sid,
        AdverseEventIn("Febrile neutropenia", D0 + dt.timedelta(days=6), grade=3, serious=True),
        actor=trial.investigator,
        clock=clock,
    )
    assert (ae.cycle, ae.cycle_day) == (1, 1)
    ongoing = visit(trial, sid, clock, 1, 8, D0 + dt.timedelta(days=7))
    assert ongoing.action == "hold" and "SG-FN-HOLD" in ongoing.reason
    resolve_adverse_event(
        trial.db, trial.study, sid, ae.id, D0 + dt.timedelta(days=12), actor=trial.investigator, clock=clock
    )
    reduced = visit(trial, sid, clock, 2, 1, D0 + dt.timedelta(days=21))
    assert (reduced.action, reduced.level, reduced.dose, reduced.dose_mg) == ("reduce", -1, 7.5, 525.0)
    assert "SG-FN-REDUCE" in reduced.reason
    next_cycle = visit(trial, sid, clock, 2, 8, D0 + dt.timedelta(days=28))
    assert (next_cycle.action, next_cycle.level) == ("give", -1)  # the reduction is permanent


def test_schedule_follows_the_randomization_date(trial: Trial) -> None:
    """Study day 1 = randomization; SG D1, D8 every 21 days (protocol calendar)."""
    sid = on_arm(trial, "sg")
    plan = get_schedule(trial.db, trial.study, sid, weeks=6)
    assert [(d.cycle, d.cycle_day, d.date) for d in plan.doses] == [
        (1, 1, D0),
        (1, 8, D0 + dt.timedelta(days=7)),
        (2, 1, D0 + dt.timedelta(days=21)),
        (2, 8, D0 + dt.timedelta(days=28)),
    ]
    assert plan.scans[0].baseline and plan.start == D0


# ---- order of operations and bad input -----------------------------------------------------------------------


def test_nothing_clinical_before_randomization(trial: Trial) -> None:
    """B8: a screened but not randomized subject gets no visit, AE, scan or schedule; nothing written."""
    sid = trial.screen("CN-001", facts_for(0))
    clock = later()
    before = snapshot(trial)
    for call in (
        lambda: visit(trial, sid, clock, 1, 1, D0),
        lambda: record_baseline(
            trial.db, trial.study, sid, BaselineIn(70, 170, 0), actor=trial.investigator, clock=clock
        ),
        lambda: record_adverse_event(
            trial.db, trial.study, sid, AdverseEventIn("Nausea", D0, grade=1), actor=trial.investigator, clock=clock
        ),
        lambda: get_schedule(trial.db, trial.study, sid),
    ):
        with pytest.raises(WorkflowError, match="not randomized"):
            call()
    assert snapshot(trial) == before


BAD_VISITS: list[tuple[dict[str, Any], str]] = [
    ({"cycle": 0}, "cycle"),
    ({"cycle": "1"}, "cycle"),
    ({"day": 2}, "day"),
    ({"visit_date": dt.date(2025, 3, 1)}, "visit_date"),
    ({"visit_date": dt.date(2030, 1, 1)}, "visit_date"),
    ({"visit_date": "2025-03-03"}, "visit_date"),
    ({"weight_kg": -5.0}, "weight_kg"),
    ({"weight_kg": float("nan")}, "weight_kg"),
    ({"labs": {"anc": -1.0}}, "labs"),
    ({"labs": {"neutrophils": 2.0}}, "labs.neutrophils"),
    ({"labs": {"platelets": 200.0}}, "labs"),  # ANC is required to decide an SG dose
    ({"labs": {"anc": {"value": 2, "unit": "furlongs"}}}, "labs"),
    ({"regimen": "eribulin"}, "regimen"),
]


@pytest.mark.parametrize(("change", "field"), BAD_VISITS, ids=[f for _, f in BAD_VISITS])
def test_a_bad_dosing_visit_names_the_field_and_writes_nothing(
    trial: Trial, change: dict[str, Any], field: str
) -> None:
    clock = later()
    sid = sg_subject(trial, clock)
    before = snapshot(trial)
    data = {"cycle": 1, "day": 1, "visit_date": D0, "weight_kg": 70.0, "labs": GOOD_LABS, **change}
    with pytest.raises(FieldError) as caught:
        record_dosing_visit(trial.db, trial.study, sid, DosingVisitIn(**data), actor=trial.investigator, clock=clock)
    assert caught.value.field == field
    assert snapshot(trial) == before


def test_out_of_order_dosing_is_refused(trial: Trial) -> None:
    """A dose twice, a dose after the end of treatment, a dose after death: WorkflowError, nothing written."""
    clock = later()
    sid = sg_subject(trial, clock)
    visit(trial, sid, clock, 1, 1, D0)
    before = snapshot(trial)
    with pytest.raises(WorkflowError, match="recorded already"):
        visit(trial, sid, clock, 1, 1, D0 + dt.timedelta(days=1))
    with pytest.raises(FieldError) as caught:  # two administrations on one day
        visit(trial, sid, clock, 1, 8, D0)
    assert caught.value.field == "visit_date"
    assert snapshot(trial) == before
    record_end_of_treatment(
        trial.db, trial.study, sid, D0 + dt.timedelta(days=10), "adverse_event", actor=trial.investigator, clock=clock
    )
    before = snapshot(trial)
    with pytest.raises(WorkflowError, match="treatment ended"):
        visit(trial, sid, clock, 1, 8, D0 + dt.timedelta(days=11))
    assert snapshot(trial) == before


def test_after_death_only_death_related_corrections(trial: Trial) -> None:
    """B8: after a recorded death nothing is dated later, no dosing, no survival contact; only the death,
    disposition and AEs can be corrected (reason required, old value in the audit trail)."""
    clock = later()
    sid = sg_subject(trial, clock)
    visit(trial, sid, clock, 1, 1, D0)
    labs = record_labs(
        trial.db, trial.study, sid, D0 + dt.timedelta(days=7), {"anc": 0.4}, actor=trial.investigator, clock=clock
    )
    assert labs[0].grade == 4
    death_day = D0 + dt.timedelta(days=30)
    record = record_death(trial.db, trial.study, sid, death_day, "other", actor=trial.investigator, clock=clock)
    assert (record.event, record.reason, record.death_id is not None) == ("end_of_study", "death", True)
    before = snapshot(trial)
    with pytest.raises(WorkflowError, match="died"):
        visit(trial, sid, clock, 2, 1, D0 + dt.timedelta(days=21))
    with pytest.raises(WorkflowError, match="after the recorded death"):
        record_adverse_event(
            trial.db,
            trial.study,
            sid,
            AdverseEventIn("Nausea", death_day + dt.timedelta(days=1), grade=1),
            actor=trial.investigator,
            clock=clock,
        )
    with pytest.raises(WorkflowError, match="died"):
        record_survival_contact(trial.db, trial.study, sid, death_day, actor=trial.investigator, clock=clock)
    with pytest.raises(WorkflowError, match="a death is recorded already"):
        record_death(trial.db, trial.study, sid, death_day, "other", actor=trial.investigator, clock=clock)
    with trial.db.read_session() as session:
        lab_id = session.execute(select(Lab.id).where(Lab.test == "anc").order_by(Lab.id.desc())).scalars().first()
    with pytest.raises(WorkflowError, match="only the death"):
        correct_record(
            trial.db,
            trial.study,
            sid,
            "labs",
            lab_id,
            {"value": 0.6},
            reason="typo",
            actor=trial.investigator,
            clock=clock,
        )
    with pytest.raises(FieldError, match="reason"):
        correct_record(
            trial.db,
            trial.study,
            sid,
            "deaths",
            record.death_id,
            {"cause": "adverse_event"},
            reason=" ",
            actor=trial.investigator,
            clock=clock,
        )
    assert snapshot(trial) == before
    fixed = correct_record(
        trial.db,
        trial.study,
        sid,
        "deaths",
        record.death_id,
        {"date": death_day - dt.timedelta(days=2)},
        reason="date from the death certificate",
        actor=trial.investigator,
        clock=clock,
    )
    assert fixed.old == {"date": death_day.isoformat()} and fixed.rederived  # end-of-study date follows
    with trial.db.read_session() as session:
        rows = (
            session.execute(select(AuditLog).where(AuditLog.table_name == "deaths", AuditLog.action == "update"))
            .scalars()
            .all()
        )
        assert [json.loads(r.old_value or "{}") for r in rows] == [{"date": death_day.isoformat()}]
        assert rows[0].reason == "date from the death certificate"
        assert verify_chain(session).ok


def test_site_staff_only(trial: Trial) -> None:
    """G10: the CN-002 coordinator cannot enter CN-001 data; the monitor enters nothing."""
    clock = later()
    sid = sg_subject(trial, clock)
    before = snapshot(trial)
    for actor in (trial.coordinator, trial.monitor):
        with pytest.raises(PermissionDenied):
            record_dosing_visit(
                trial.db, trial.study, sid, DosingVisitIn(1, 1, D0, 70.0, GOOD_LABS), actor=actor, clock=clock
            )
        with pytest.raises(PermissionDenied):
            record_death(trial.db, trial.study, sid, D0, "other", actor=actor, clock=clock)
    assert snapshot(trial) == before


BAD_AES: list[tuple[dict[str, Any], str]] = [
    ({"term": " "}, "term"),
    ({"grade": 6}, "grade"),
    ({"grade": None}, "grade"),
    ({"onset": dt.date(2025, 2, 1)}, "onset"),
    ({"resolution": dt.date(2025, 3, 2)}, "resolution"),
    ({"serious": "yes"}, "serious"),
    ({"cycle": 1}, "cycle_day"),
    ({"grade": None, "lab_value": 2.5, "lab_unit": "10^9/L", "term": "Neutrophil count decreased"}, "lab_value"),
]


@pytest.mark.parametrize(("change", "field"), BAD_AES, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_AES)])
def test_a_bad_adverse_event_names_the_field_and_writes_nothing(
    trial: Trial, change: dict[str, Any], field: str
) -> None:
    clock = later()
    sid = on_arm(trial, "sg")
    before = snapshot(trial)
    data = {"term": "Diarrhea", "onset": D0 + dt.timedelta(days=3), "grade": 2, **change}
    with pytest.raises(FieldError) as caught:
        record_adverse_event(trial.db, trial.study, sid, AdverseEventIn(**data), actor=trial.investigator, clock=clock)
    assert caught.value.field == field
    assert snapshot(trial) == before


def test_a_lab_value_is_graded_by_the_engine(trial: Trial) -> None:
    """CTCAE v5.0: neutrophils 0.4 x 10^9/L is grade 4; a given grade that disagrees is refused."""
    clock = later()
    sid = on_arm(trial, "sg")
    event = AdverseEventIn("neutropenia", D0 + dt.timedelta(days=8), lab_value=400, lab_unit="/uL", lab_lln=1800)
    record = record_adverse_event(trial.db, trial.study, sid, event, actor=trial.investigator, clock=clock)
    assert (record.term, record.grade) == ("Neutrophil count decreased", 4)


# ---- tumour assessments ---------------------------------------------------------------------------------------


def _scan(date: dt.date, reader: str, d1: float | None, d2: float | None, *, new: bool = False) -> TumourAssessmentIn:
    return TumourAssessmentIn(
        date,
        reader,
        (TargetMeasurement("T1", "liver", False, d1), TargetMeasurement("T2", "lung", False, d2)),
        (NonTargetFinding("N1", "bone", False, "present"),),
        (NewLesion("NEW1", "brain"),) if new else (),
    )


def test_recist_responses_use_the_stored_baseline_and_nadir(trial: Trial) -> None:
    """RECIST 1.1 §4.3.1: baseline 50 mm; 30 mm is −40 % (PR); 37 mm is +23 % and +7 mm over the nadir (PD).
    Readers are separate records."""
    clock = later()
    sid = sg_subject(trial, clock)

    def record(scan: TumourAssessmentIn) -> Any:
        return record_tumour_assessment(trial.db, trial.study, sid, scan, actor=trial.investigator, clock=clock)

    base = record(_scan(D0 - dt.timedelta(days=10), "investigator", 30.0, 20.0))
    assert base.baseline and base.overall is None and base.sum_mm == 50.0
    pr = record(_scan(D0 + dt.timedelta(days=42), "investigator", 18.0, 12.0))
    assert (pr.target, pr.overall, pr.pct_from_baseline) == ("PR", "PR", pytest.approx(-40.0))
    pd_ = record(_scan(D0 + dt.timedelta(days=84), "investigator", 22.0, 15.0))
    assert (pd_.target, pd_.overall, pd_.nadir_mm) == ("PD", "PD", 30.0)
    bicr = record(_scan(D0 - dt.timedelta(days=5), "BICR", 31.0, 20.0))
    assert bicr.baseline  # the BICR's first read is its own baseline
    before = snapshot(trial)
    for bad, field in (
        (_scan(D0 + dt.timedelta(days=80), "investigator", 1.0, 1.0), "assessment_date"),
        (_scan(D0 + dt.timedelta(days=90), "radiologist", 1.0, 1.0), "reader"),
        (_scan(D0 + dt.timedelta(days=90), "BICR", -1.0, 1.0), "targets[0].diameter_mm"),
    ):
        with pytest.raises(FieldError) as caught:
            record(bad)
        assert caught.value.field == field
    with pytest.raises(FieldError, match="lesions"):  # RECIST 1.1 §4.2: the same targets at every assessment
        record(TumourAssessmentIn(D0 + dt.timedelta(days=90), "BICR", (TargetMeasurement("T9", "liver", False, 5.0),)))
    assert snapshot(trial) == before
    frames = export_frames(trial.db, trial.study)
    assert list(frames["responses"]["overall"]) == ["PR", "PD"]
    best = frames["best_response"].set_index("assessor").loc["investigator"]
    # RECIST 1.1 §4.4 / Table 3: the PR is not confirmed (the next scan is PD), so the best response is SD
    # (a stable-or-better time point at least sd_min_days after randomization), progression on day 84
    assert (best["response"], best["progression_date"]) == ("SD", dt.datetime(2025, 5, 26))


def test_a_lesion_correction_re_assesses_the_responses(trial: Trial) -> None:
    """21 CFR 11.10(e): the corrected measurement keeps its old value in the audit trail; the engine's
    responses after it are re-derived (audited updates with the reason)."""
    clock = later()
    sid = sg_subject(trial, clock)
    for scan in (
        _scan(D0 - dt.timedelta(days=10), "investigator", 30.0, 20.0),
        _scan(D0 + dt.timedelta(days=42), "investigator", 18.0, 12.0),
    ):
        record_tumour_assessment(trial.db, trial.study, sid, scan, actor=trial.investigator, clock=clock)
    frames = export_frames(trial.db, trial.study)
    assert list(frames["responses"]["overall"]) == ["PR"]
    with trial.db.read_session() as session:
        from trialtwin.store.tables import Lesion

        lesion = session.execute(
            select(Lesion).where(Lesion.lesion_id == "T1", Lesion.date == D0 + dt.timedelta(days=42))
        ).scalar_one()
    result = correct_record(
        trial.db,
        trial.study,
        sid,
        "lesions",
        lesion.id,
        {"diameter_mm": 28.0},
        reason="re-measured",
        actor=trial.investigator,
        clock=clock,
    )
    assert result.old == {"diameter_mm": 18.0} and len(result.rederived) == 1
    frames = export_frames(trial.db, trial.study)
    assert list(frames["responses"]["overall"]) == ["SD"]  # 40 mm = −20 %


# ---- disposition and export -----------------------------------------------------------------------------------


def test_disposition_events_and_the_export_frames(trial: Trial) -> None:
    """End of treatment, survival contact, withdrawal: the frames carry them as the twin does."""
    clock = later()
    sid = sg_subject(trial, clock)
    visit(trial, sid, clock, 1, 1, D0)
    visit(trial, sid, clock, 1, 8, D0 + dt.timedelta(days=7))
    record_end_of_treatment(
        trial.db, trial.study, sid, D0 + dt.timedelta(days=20), "progression", actor=trial.investigator, clock=clock
    )
    record_survival_contact(
        trial.db, trial.study, sid, D0 + dt.timedelta(days=104), actor=trial.investigator, clock=clock
    )
    record_withdrawal(trial.db, trial.study, sid, D0 + dt.timedelta(days=150), actor=trial.investigator, clock=clock)
    before = snapshot(trial)
    with pytest.raises(WorkflowError, match="withdrawal"):
        record_survival_contact(
            trial.db, trial.study, sid, D0 + dt.timedelta(days=160), actor=trial.investigator, clock=clock
        )
    with pytest.raises(FieldError) as caught:
        record_end_of_treatment(trial.db, trial.study, sid, D0, "bored", actor=trial.investigator, clock=clock)
    assert caught.value.field == "reason"
    assert snapshot(trial) == before
    frames = export_frames(trial.db, trial.study)
    subject = frames["subjects"].iloc[0]
    assert subject["arm"] == "sg" and subject["regimen"] == "sg" and subject["ecog"] == 1
    assert subject["first_dose_date"] == dt.datetime(2025, 3, 3) and subject["last_dose_date"] == dt.datetime(
        2025, 3, 10
    )
    assert subject["stratum"] == "|".join(
        f"{k}={subject[f'strat_{k}']}" for k in ("prior_lines", "visceral", "prior_cdk46")
    )
    assert list(frames["disposition"][["event", "reason"]].itertuples(index=False, name=None)) == [
        ("end_of_treatment", "progression"),
        ("end_of_study", "withdrawal"),
    ]
    assert len(frames["survival_followup"]) == 1 and len(frames["exposure"]) == 2
    with trial.db.read_session() as session:
        assert session.execute(select(Exposure)).scalars().all()
        assert verify_chain(session).ok


def test_a_lab_correction_re_grades_and_keeps_the_old_value(trial: Trial) -> None:
    """21 CFR 11.10(e): value 0.4 → 1.2 x 10^9/L re-grades 4 → 2 (CTCAE v5.0); the audit entry holds the old
    value and grade with the reason. Engine outputs cannot be corrected."""
    clock = later()
    sid = on_arm(trial, "sg")
    record_labs(
        trial.db, trial.study, sid, D0 + dt.timedelta(days=7), {"anc": 0.4}, actor=trial.investigator, clock=clock
    )
    with trial.db.read_session() as session:
        lab_id = session.execute(select(Lab.id)).scalar_one()
    result = correct_record(
        trial.db,
        trial.study,
        sid,
        "labs",
        lab_id,
        {"value": 1.2},
        reason="transcription error",
        actor=trial.investigator,
        clock=clock,
    )
    assert result.old == {"value": 0.4} and result.new == {"value": 1.2, "grade": 2}
    with trial.db.read_session() as session:
        row = session.execute(
            select(AuditLog).where(AuditLog.table_name == "labs", AuditLog.action == "update")
        ).scalar_one()
        assert json.loads(row.old_value or "{}") == {"grade": 4, "value": 0.4}
        assert row.reason == "transcription error"
    before = snapshot(trial)
    for table, changes, field in (
        ("exposure", {"dose": 1.0}, "table"),
        ("labs", {"grade": 1}, "changes.grade"),
        ("labs", {"value": -3}, "changes.value"),
    ):
        with pytest.raises(FieldError) as caught:
            correct_record(
                trial.db, trial.study, sid, table, lab_id, changes, reason="x", actor=trial.investigator, clock=clock
            )
        assert caught.value.field == field
    with pytest.raises(FieldError) as caught:
        correct_record(
            trial.db, trial.study, sid, "labs", 10**6, {"value": 1.0}, reason="x", actor=trial.investigator, clock=clock
        )
    assert caught.value.field == "record_id"
    assert snapshot(trial) == before


def test_physicians_choice_needs_the_regimen_at_the_first_visit(trial: Trial) -> None:
    """EVER-132-002 TPC arm: eribulin, capecitabine, gemcitabine or vinorelbine, chosen per patient; the schedule
    and the first visit need it, later visits keep it."""
    clock = later()
    sid = on_arm(trial, "tpc")
    record_baseline(trial.db, trial.study, sid, BaselineIn(60.0, 160.0, 0), actor=trial.investigator, clock=clock)
    with pytest.raises(WorkflowError, match="choose a regimen"):
        get_schedule(trial.db, trial.study, sid)
    with pytest.raises(FieldError) as caught:
        visit(trial, sid, clock, 1, 1, D0)
    assert caught.value.field == "regimen"
    first = visit(trial, sid, clock, 1, 1, D0, regimen="eribulin")
    assert (first.regimen, first.action, first.unit) == ("eribulin", "give", "mg/m2")
    assert get_schedule(trial.db, trial.study, sid, weeks=3).regimen == "eribulin"
    with pytest.raises(FieldError, match="cannot change"):
        visit(trial, sid, clock, 1, 8, D0 + dt.timedelta(days=7), regimen="gemcitabine")
