"""Read use cases of a subject's record on SQLite: ``get_clinical_record``, ``get_facts``, ``correctable_fields``
and the user's name in ``audit_entries``.

References: Trodelvy US PI 2.1 and 2.3 Table 2 (sacituzumab govitecan 10 mg/kg on D1, D8 of 21-day cycles; ANC
< 1500/mm³ on Day 1 → withhold, rule SG-ANC-D1; febrile neutropenia → one level down, 7.5 mg/kg); NCI CTCAE v5.0
(neutrophil count decreased grade 2: < 1.5 - 1.0 × 10⁹/L); RECIST 1.1 (Eisenhauer 2009) §4.3.1: PR is ≥ 30 %
below the baseline sum (60 → 37 mm: -38.3 %), PD ≥ 20 % and ≥ 5 mm above the nadir (the smallest sum before,
baseline included: 37 → 45 mm is +21.6 % and +8 mm).
"""

from __future__ import annotations

import datetime as dt

import pytest
from _clinical_cases import D0, later, on_arm, sg_subject, visit
from _service_cases import snapshot
from _trial import Trial, facts_for

from trialtwin.services import (
    AdverseEventIn,
    RecordNotFound,
    TargetMeasurement,
    TumourAssessmentIn,
    correct_record,
    enter_eligibility,
    get_clinical_record,
    get_facts,
    record_adverse_event,
    record_death,
    record_end_of_treatment,
    record_tumour_assessment,
)
from trialtwin.services.browse import audit_entries
from trialtwin.services.records import correctable_fields


@pytest.fixture
def trial(sqlite_trial: Trial) -> Trial:
    return sqlite_trial


def _scan(trial: Trial, sid: str, clock: object, when: dt.date, t1: float, t2: float, reader: str = "investigator"):
    targets = (TargetMeasurement("T1", "liver", False, t1), TargetMeasurement("T2", "lung", False, t2))
    return record_tumour_assessment(
        trial.db, trial.study, sid, TumourAssessmentIn(when, reader, targets), actor=trial.investigator, clock=clock
    )


def test_the_record_holds_the_dose_decisions_as_the_engine_made_them(trial: Trial) -> None:
    clock = later()
    sid = sg_subject(trial, clock)
    held = visit(trial, sid, clock, 1, 1, D0, labs={"anc": 1.2, "platelets": 200.0})
    given = visit(trial, sid, clock, 1, 1, D0 + dt.timedelta(days=7))
    record_adverse_event(
        trial.db,
        trial.study,
        sid,
        AdverseEventIn("Febrile neutropenia", D0 + dt.timedelta(days=10), grade=3, serious=True),
        actor=trial.investigator,
        clock=clock,
    )
    before = snapshot(trial)
    rec = get_clinical_record(trial.db, trial.study, sid)
    assert snapshot(trial) == before  # a read writes nothing
    assert rec.arm == "sg" and rec.randomized_on == D0
    assert rec.baseline is not None and (rec.baseline.weight_kg, rec.baseline.height_cm) == (70.0, 170.0)
    first, second = rec.visits
    assert (first.visit_id, first.visit, first.action, first.dose_mg) == (held.visit_id, "C1D1", "hold", 0.0)
    assert "SG-ANC-D1" in first.reason and "Trodelvy" in first.source
    assert {lab.test: lab.grade for lab in first.labs} == {"anc": 2, "platelets": 0}
    assert (second.action, second.previous_level, second.level, second.dose, second.dose_mg) == (
        "give",
        0,
        0,
        10.0,
        700.0,
    )
    assert second.delay_days == 7 and second.exposure_id == given.exposure_id
    assert [(a.action, a.given) for a in rec.administrations] == [("hold", False), ("give", True)]
    assert len(rec.labs) == 4  # two per visit
    (ae,) = rec.adverse_events
    assert (ae.term, ae.grade, ae.serious, ae.cycle, ae.cycle_day, ae.resolution) == (
        "Febrile neutropenia",
        3,
        True,
        1,
        1,
        None,
    )
    assert rec.visit(held.visit_id) == first and rec.visit(10**6) is None
    assert rec.adverse_event(ae.id) == ae


def test_the_record_holds_the_stored_recist_responses_per_reader(trial: Trial) -> None:
    clock = later(120)
    sid = sg_subject(trial, clock)
    _scan(trial, sid, clock, D0 - dt.timedelta(days=3), 40, 20)
    _scan(trial, sid, clock, D0 + dt.timedelta(days=42), 25, 12)  # 37 mm
    _scan(trial, sid, clock, D0 + dt.timedelta(days=84), 30, 15)  # 45 mm
    _scan(trial, sid, clock, D0 - dt.timedelta(days=2), 41, 20, reader="BICR")
    rec = get_clinical_record(trial.db, trial.study, sid)
    inv = rec.assessments["investigator"]
    assert [a.baseline for a in inv] == [True, False, False]
    assert inv[0].sum_mm == 60.0 and inv[0].response is None
    assert [len(a.targets) for a in inv] == [2, 2, 2]
    pr, pd = inv[1].response, inv[2].response
    assert pr is not None and pd is not None
    assert (pr.overall, pr.sum_mm, pr.pct_from_baseline, pr.nadir_mm) == (
        "PR",
        37.0,
        pytest.approx(-38.33, abs=0.01),
        60,
    )
    assert (pd.overall, pd.sum_mm, pd.nadir_mm) == ("PD", 45.0, 37.0)
    bicr = rec.assessments["BICR"]
    assert len(bicr) == 1 and bicr[0].sum_mm == 61.0  # the readers are kept apart (RECIST 1.1 §7)
    assert rec.assessment("investigator", D0 + dt.timedelta(days=42)) == inv[1]


def test_the_record_follows_a_correction_and_shows_disposition_and_death(trial: Trial) -> None:
    clock = later(120)
    sid = sg_subject(trial, clock)
    _scan(trial, sid, clock, D0 - dt.timedelta(days=3), 40, 20)
    _scan(trial, sid, clock, D0 + dt.timedelta(days=42), 30, 20)  # 50 mm: -16.7 %, SD
    rec = get_clinical_record(trial.db, trial.study, sid)
    lesion = rec.assessments["investigator"][1].targets[0]
    assert rec.assessments["investigator"][1].response.overall == "SD"  # type: ignore[union-attr]
    correct_record(
        trial.db,
        trial.study,
        sid,
        "lesions",
        lesion.id,
        {"diameter_mm": 17.0},
        reason="transcription error",
        actor=trial.investigator,
        clock=clock,
    )
    rec = get_clinical_record(trial.db, trial.study, sid)
    response = rec.assessments["investigator"][1].response
    assert response is not None and (response.overall, response.sum_mm) == ("PR", 37.0)  # re-assessed
    eot = D0 + dt.timedelta(days=50)
    record_end_of_treatment(trial.db, trial.study, sid, eot, "progression", actor=trial.investigator, clock=clock)
    record_death(
        trial.db,
        trial.study,
        sid,
        eot + dt.timedelta(days=9),
        "progressive_disease",
        actor=trial.investigator,
        clock=clock,
    )
    rec = get_clinical_record(trial.db, trial.study, sid)
    assert [(d.event, d.reason) for d in rec.disposition] == [
        ("end_of_treatment", "progression"),
        ("end_of_study", "death"),
    ]
    assert rec.death is not None and (rec.death.date, rec.death.cause) == (
        eot + dt.timedelta(days=9),
        "progressive_disease",
    )


def test_a_subject_not_randomized_has_an_empty_record_and_an_unknown_one_is_not_found(trial: Trial) -> None:
    sid = trial.screen("CN-001", facts_for(0))
    rec = get_clinical_record(trial.db, trial.study, sid)
    assert rec.arm is None and rec.visits == () and rec.adverse_events == () and rec.death is None
    assert rec.assessments == {"investigator": (), "BICR": ()}
    with pytest.raises(RecordNotFound):
        get_clinical_record(trial.db, trial.study, "CN-001-S999")
    with pytest.raises(RecordNotFound):
        get_facts(trial.db, trial.study, "CN-001-S999")


def test_get_facts_returns_the_latest_saved_version(trial: Trial) -> None:
    from trialtwin.services import register_screening

    new = register_screening(trial.db, trial.study, "CN-001", actor=trial.investigator, clock=trial.clock)
    assert get_facts(trial.db, trial.study, new.screening_id) is None
    sid = trial.screen("CN-001", facts_for(0))
    first = get_facts(trial.db, trial.study, sid)
    assert first is not None and first.version == 1 and first.facts == facts_for(0)
    enter_eligibility(
        trial.db,
        trial.study,
        sid,
        facts_for(0, age=61),
        reason="age misread",
        actor=trial.investigator,
        clock=trial.clock,
    )
    latest = get_facts(trial.db, trial.study, sid)
    assert latest is not None and latest.version == 2 and latest.facts["age"] == 61
    assert latest.entered_by == trial.investigator


def test_correctable_fields_follow_the_correction_rules() -> None:
    fields = {t: {f.name: (f.kind, f.optional) for f in fs} for t, fs in correctable_fields().items()}
    assert fields["labs"] == {"value": ("number", False), "date": ("date", False)}
    assert fields["adverse_events"]["end_date"] == ("date", True)
    assert fields["adverse_events"]["grade"] == ("integer", False)
    assert fields["lesions"]["diameter_mm"] == ("number", True)
    assert "exposure" not in fields  # dose decisions are never rewritten


def test_audit_entries_name_the_user(trial: Trial) -> None:
    on_arm(trial, "sg")
    entries = audit_entries(trial.db, trial.study, limit=1000)
    names = {e["user_id"]: e["user_name"] for e in entries}
    assert names[trial.investigator] == "Ivan Investigator" and names[trial.admin] == "Ada Admin"
