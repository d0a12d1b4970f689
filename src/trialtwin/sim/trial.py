"""One virtual trial, patient by patient, through the protocol's own rules.

Every virtual person is screened by the engine's eligibility rules, randomized by the engine's IRT (stratified,
seeded), dosed cycle by cycle with the engine's dose decisions, graded with the CTCAE tables, scanned on the
protocol's calendar (with window jitter) and assessed with RECIST 1.1 by two readers (BICR and investigator).
Progression is the engine's progression date. The record is cut at the target number of PFS-BICR events or at a
date, and returned as the analysis frames (``trialtwin.analysis.frames``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trialtwin.analysis.frames import FRAME_NAMES, empty_frame
from trialtwin.engine.eligibility import CompiledEligibility
from trialtwin.engine.randomization import Subject, allocate, initial_state
from trialtwin.engine.recist.assess import assess_recist
from trialtwin.engine.recist.best_response import RecistRules
from trialtwin.engine.recist.lesions import RecistRecord
from trialtwin.engine.schedule import expand_scans
from trialtwin.engine.strata import CompiledStrata
from trialtwin.protocol.model import Protocol, Regimen
from trialtwin.sim.disease import DiseaseCourse, scan, simulate_course
from trialtwin.sim.population import DAYS_PER_MONTH, Candidate, simulate_arrivals, simulate_candidate
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.treatment import simulate_treatment

FOLLOW_UP_YEARS = 6.0
SURVIVAL_FOLLOWUP_DAYS = 84  # assumption: survival contacts every 12 weeks after end of treatment


@dataclass
class _Rows:
    """Row buffers of the frames being built."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {n: [] for n in FRAME_NAMES})

    def add(self, frame: str, **row: Any) -> None:
        self.tables[frame].append(row)


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A simulated trial: analysis frames at the primary cut-off, what produced them, and — when the scenario asks
    for one — the frames at the later overall-survival cut-off (``os_frames`` / ``os_cutoff``)."""

    frames: dict[str, pd.DataFrame]
    cutoff: dt.date
    meta: dict[str, Any]
    os_frames: dict[str, pd.DataFrame] | None = None
    os_cutoff: dt.date | None = None


def simulate_trial(
    protocol: Protocol,
    scenario: Scenario,
    *,
    rng: np.random.Generator,
    progress: Callable[[int, int], None] | None = None,
    allocation_seed: int | None = None,
    on_screened: Callable[[str, str | None, Candidate], None] | None = None,
) -> TrialRecord:
    """Simulate one trial of ``protocol`` under ``scenario``; ``progress(randomized, target)`` is called as
    subjects are randomized.

    ``allocation_seed``: allocate each slot with ``default_rng([seed, stratum index, position in stratum])``, the
    service IRT's generator (``trialtwin.store.ledger.rng_for``), instead of the trial's stream, so that a study
    loaded with that seed gives the same allocations in the same order (the golden journey). ``on_screened``
    receives each screened person (screening id, subject id or None, candidate) for replaying the record."""
    scenario.check_against(protocol)
    eligibility = CompiledEligibility(protocol)
    strata = CompiledStrata(protocol)
    factor_ids = tuple(f.id for f in protocol.stratification)
    rules = RecistRules.from_protocol(protocol.response_rules)
    state = initial_state(protocol)
    target = protocol.enrollment.count
    start = scenario.accrual.start
    rows = _Rows()
    scans: dict[tuple[str, str], RecistRecord] = {}
    arrivals = simulate_arrivals(protocol, scenario, n_expected=target / 0.75, rng=rng)
    randomized = 0
    for n, arrival in enumerate(arrivals, start=1):
        if randomized >= target:
            break
        cand = simulate_candidate(protocol, scenario, arrival, rng=rng)
        screened = start + dt.timedelta(days=arrival.day)
        verdict = eligibility.evaluate(cand.facts)
        failed = verdict.failed()
        screening_id = f"SCR{n:05d}"
        subject_id = None
        if verdict.eligible:
            levels = strata.evaluate(cand.facts).codes(factor_ids)
            randomized += 1
            subject_id = f"{arrival.site_id}-{randomized:04d}"
            level_map = dict(zip(factor_ids, levels, strict=True))
            slot_rng = rng
            if allocation_seed is not None:
                _, stratum = state.locate(Subject(subject_id, level_map))
                slot_rng = np.random.default_rng([allocation_seed, stratum, state.strata[stratum].allocated + 1])
            assignment, state = allocate(state, Subject(subject_id, level_map), rng=slot_rng)
            rand_date = screened + dt.timedelta(days=int(rng.integers(1, 8)))
            records = _simulate_subject(
                protocol, scenario, rows, cand, subject_id, assignment.arm, level_map, rand_date, rules, rng=rng
            )
            scans.update({(subject_id, assessor): rec for assessor, rec in records.items()})
            if progress is not None:
                progress(randomized, target)
        if on_screened is not None:
            on_screened(screening_id, subject_id, cand)
        rows.add(
            "screening",
            screening_id=screening_id,
            subject_id=subject_id,
            site_id=arrival.site_id,
            screened_date=screened,
            status=verdict.status.value,
            failed_criteria=";".join(c.id for c in failed),
            reasons=" | ".join(c.reason for c in failed),
        )
    full = {name: _frame(name, rows.tables[name]) for name in FRAME_NAMES}
    cutoff = _cutoff(full, scenario)
    frames = _record_at(full, scans, cutoff, rules)
    os_cutoff = _death_cutoff(full, scenario.cut.os_target_events)
    os_frames = _record_at(full, scans, os_cutoff, rules) if os_cutoff is not None else None
    meta = {
        "study": protocol.id,
        "scenario": scenario.id,
        "randomized": randomized,
        "screened": len(frames["screening"]),
        "cutoff": cutoff.isoformat(),
        "os_cutoff": os_cutoff.isoformat() if os_cutoff is not None else None,
    }
    return TrialRecord(frames=frames, cutoff=cutoff, meta=meta, os_frames=os_frames, os_cutoff=os_cutoff)


def _record_at(
    full: dict[str, pd.DataFrame], scans: dict[tuple[str, str], RecistRecord], cutoff: dt.date, rules: RecistRules
) -> dict[str, pd.DataFrame]:
    """The record as known at ``cutoff``, with the engine's best responses on the scans known then."""
    frames = cut_by_date(full, cutoff)
    frames["best_response"] = _best_responses(frames, scans, cutoff, rules)
    return frames


def _death_cutoff(full: dict[str, pd.DataFrame], target: int | None) -> dt.date | None:
    """Date of the ``target``-th death (the overall-survival analysis), or None when not asked / not reached."""
    if target is None:
        return None
    deaths = full["deaths"]["date"].sort_values()
    if len(deaths) < target:
        return None
    return pd.Timestamp(deaths.iloc[target - 1]).date()


def _frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return empty_frame(name)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, dt.date)).any():
            frame[column] = pd.to_datetime(frame[column])
    return frame


def _choose_regimen(protocol: Protocol, scenario: Scenario, arm_id: str, rng: np.random.Generator) -> Regimen:
    arm = protocol.arm(arm_id)
    options = protocol.arm_regimens(arm)
    if arm.regimen_choice != "one_of":
        return options[0]
    split = scenario.treatment.tpc_split
    by_drug = {r.drug: r for r in options}
    drugs = list(split)
    return by_drug[drugs[int(rng.choice(len(drugs), p=list(split.values())))]]


def _simulate_subject(
    protocol: Protocol,
    scenario: Scenario,
    rows: _Rows,
    cand: Candidate,
    subject_id: str,
    arm_id: str,
    levels: dict[str, str],
    rand_date: dt.date,
    rules: RecistRules,
    *,
    rng: np.random.Generator,
) -> dict[str, RecistRecord]:
    """Simulate one randomized subject into ``rows``; returns each reader's full scan record."""
    regimen = _choose_regimen(protocol, scenario, arm_id, rng)
    course = simulate_course(scenario.outcomes[arm_id], scenario.tumour, rng=rng)
    horizon = FOLLOW_UP_YEARS * 365.25
    death_day = course.death_month * DAYS_PER_MONTH
    withdrawal_day = course.withdrawal_month * DAYS_PER_MONTH
    last_contact = min(death_day, withdrawal_day, horizon)

    # ---- scans, two readers, RECIST 1.1 by the engine
    progression: dict[str, dt.date | None] = {}
    records: dict[str, RecistRecord] = {}
    tumour = scenario.tumour
    for assessor in ("BICR", "investigator"):
        late = assessor == "investigator" and bool(rng.random() < scenario.outcomes[arm_id].investigator_late)
        lag = tumour.investigator_lag_months if late else 0.0
        record = _scans(protocol, course, rand_date, last_contact, tumour.measurement_cv, rng, lag)
        result = assess_recist(record, rules=rules, check=False)
        pd_date = result.progression_date
        progression[assessor] = pd_date
        stop = pd_date or dt.date.max
        records[assessor] = RecistRecord(
            randomized=record.randomized, assessments=tuple(a for a in record.assessments if a.date <= stop)
        )
        for assessment, tp in zip(record.assessments[1:], result.timepoints, strict=True):
            if assessment.date > stop:
                break
            rows.add(
                "responses",
                subject_id=subject_id,
                date=assessment.date,
                assessor=assessor,
                target=tp.target.value if tp.target is not None else None,
                non_target=tp.non_target.value if tp.non_target is not None else None,
                new_lesions=assessment.new_lesions,
                overall=tp.overall.value,
                sum_mm=tp.sum_mm,
                pct_from_baseline=tp.pct_from_baseline,
            )
        for assessment in record.assessments:
            if assessment.date > stop:
                break
            for lesion in assessment.target:
                rows.add(
                    "lesions",
                    subject_id=subject_id,
                    date=assessment.date,
                    assessor=assessor,
                    lesion_id=lesion.id,
                    kind="target",
                    organ=lesion.organ,
                    nodal=lesion.nodal,
                    diameter_mm=5.0 if lesion.too_small else lesion.diameter_mm,
                    status=None,
                )
            for nt in assessment.non_target:
                rows.add(
                    "lesions",
                    subject_id=subject_id,
                    date=assessment.date,
                    assessor=assessor,
                    lesion_id=nt.id,
                    kind="non_target",
                    organ=nt.organ,
                    nodal=nt.nodal,
                    diameter_mm=None,
                    status=nt.status.value,
                )
            if assessment.new_lesions:
                rows.add(
                    "lesions",
                    subject_id=subject_id,
                    date=assessment.date,
                    assessor=assessor,
                    lesion_id="NEW1",
                    kind="new",
                    organ="new",
                    nodal=False,
                    diameter_mm=None,
                    status="present",
                )

    # ---- treatment until investigator progression, unacceptable toxicity, withdrawal or death
    stop_day = min(death_day, withdrawal_day)
    inv_pd = progression["investigator"]
    if inv_pd is not None:
        stop_day = min(stop_day, (inv_pd - rand_date).days)
    treatment = simulate_treatment(regimen, cand, scenario, rand_date, stop_day, rng=rng)
    for row in treatment.exposure:
        rows.add("exposure", subject_id=subject_id, **row)
    # The last dose's nadir count and its adverse events can fall after a death or a withdrawal of consent:
    # nothing is collected after either (ICH E6(R3) 2.8.10), so they are not recorded (a resolution may be).
    last_data = rand_date + dt.timedelta(days=int(min(death_day, withdrawal_day)))
    for row in treatment.labs:
        if row["date"] <= last_data:
            rows.add("labs", subject_id=subject_id, **row)
    for row in treatment.adverse_events:
        if row["start_date"] <= last_data:
            rows.add("adverse_events", subject_id=subject_id, **row)
    eot_reason = treatment.stop_reason
    eot_day: float = treatment.last_day
    if eot_reason is None:
        if inv_pd is not None and (inv_pd - rand_date).days <= stop_day:
            eot_reason = "progression"
        elif death_day <= withdrawal_day:
            eot_reason = "death"
        else:
            eot_reason = "withdrawal"
        eot_day = min(stop_day, horizon)
    rows.add(
        "disposition",
        subject_id=subject_id,
        event="end_of_treatment",
        date=rand_date + dt.timedelta(days=int(eot_day)),
        reason=eot_reason,
    )
    # Survival follow-up: a contact every 12 weeks after treatment ends, while alive and in the study.
    contact = eot_day + SURVIVAL_FOLLOWUP_DAYS
    while contact < min(death_day, withdrawal_day, horizon):
        rows.add(
            "survival_followup", subject_id=subject_id, date=rand_date + dt.timedelta(days=int(contact)), status="alive"
        )
        contact += SURVIVAL_FOLLOWUP_DAYS
    if death_day <= min(withdrawal_day, horizon):
        death_date = rand_date + dt.timedelta(days=int(death_day))
        progressed = course.progression_month * DAYS_PER_MONTH <= death_day
        rows.add(
            "deaths", subject_id=subject_id, date=death_date, cause="progressive_disease" if progressed else "other"
        )
        rows.add("disposition", subject_id=subject_id, event="end_of_study", date=death_date, reason="death")
    elif withdrawal_day <= horizon:
        rows.add(
            "disposition",
            subject_id=subject_id,
            event="end_of_study",
            date=rand_date + dt.timedelta(days=int(withdrawal_day)),
            reason="withdrawal",
        )
    doses = [r["date"] for r in treatment.exposure if r["dose"] > 0]
    rows.add(
        "subjects",
        subject_id=subject_id,
        site_id=cand.arrival.site_id,
        country=cand.arrival.country,
        randomized_date=rand_date,
        arm=arm_id,
        regimen=regimen.id,
        stratum="|".join(f"{k}={v}" for k, v in levels.items()),
        age=float(cand.facts["age"]),
        sex=cand.facts["sex"],
        weight_kg=cand.weight_kg,
        height_cm=cand.height_cm,
        ecog=cand.ecog,
        first_dose_date=min(doses) if doses else None,
        last_dose_date=max(doses) if doses else None,
        **{f"strat_{k}": v for k, v in levels.items()},
    )
    return records


def _best_responses(
    frames: dict[str, pd.DataFrame],
    scans: dict[tuple[str, str], RecistRecord],
    cutoff: dt.date,
    rules: RecistRules,
) -> pd.DataFrame:
    """The engine's best overall response per subject and reader, on the scans known at ``cutoff``."""
    out = []
    for subject_id in frames["subjects"]["subject_id"]:
        for assessor in ("BICR", "investigator"):
            record = scans[(subject_id, assessor)]
            known = tuple(a for a in record.assessments if a.date <= cutoff)
            if len(known) <= 1:
                out.append(
                    {
                        "subject_id": subject_id,
                        "assessor": assessor,
                        "response": "NE",
                        "response_date": None,
                        "confirmation_date": None,
                        "progression_date": None,
                        "best_pct_change": None,
                    }
                )
                continue
            best = assess_recist(RecistRecord(record.randomized, known), rules=rules, check=False).best
            out.append(
                {
                    "subject_id": subject_id,
                    "assessor": assessor,
                    "response": best.response.value,
                    "response_date": best.response_date,
                    "confirmation_date": best.confirmation_date,
                    "progression_date": best.progression_date,
                    "best_pct_change": best.best_pct_change,
                }
            )
    return _frame("best_response", out)


def _scans(
    protocol: Protocol,
    course: DiseaseCourse,
    rand_date: dt.date,
    last_day: float,
    cv: float,
    rng: np.random.Generator,
    new_lesion_lag: float = 0.0,
) -> RecistRecord:
    """Baseline and on-study scans (window jitter) up to the last contact, as one reader measures them."""
    weeks = int(last_day // 7) + 1
    calendar = expand_scans(protocol, rand_date, weeks=max(weeks, 1))
    baseline_day = -int(rng.integers(1, 21))
    assessments = [scan(course, rand_date + dt.timedelta(days=baseline_day), 0.0, cv=cv, rng=rng)]
    last_date = assessments[0].date
    for planned in calendar[1:]:
        window = (planned.window_end - planned.date).days
        jitter = int(np.clip(np.round(rng.normal(0.0, window / 2.5)), -window, window)) if window else 0
        date = planned.date + dt.timedelta(days=jitter)
        day = (date - rand_date).days
        if day > last_day or date <= last_date:
            continue
        assessments.append(scan(course, date, day / DAYS_PER_MONTH, cv=cv, rng=rng, new_lesion_lag=new_lesion_lag))
        last_date = date
    return RecistRecord(randomized=rand_date, assessments=tuple(assessments))


def _cutoff(frames: dict[str, pd.DataFrame], scenario: Scenario) -> dt.date:
    """The data cut-off: the date of the target-th PFS-BICR event (progression or death), or the set date."""
    if scenario.cut.date is not None:
        return scenario.cut.date
    assert scenario.cut.target_events is not None
    responses = frames["responses"]
    pd_rows = responses[(responses["assessor"] == "BICR") & (responses["overall"] == "PD")]
    first_pd = pd_rows.groupby("subject_id")["date"].min()
    deaths = frames["deaths"].set_index("subject_id")["date"]
    events = pd.concat([first_pd, deaths], axis=1, keys=["pd", "death"]).min(axis=1).sort_values()
    if len(events) < scenario.cut.target_events:
        last = max(
            (
                frames[n][c].max()
                for n, c in (("responses", "date"), ("deaths", "date"), ("exposure", "date"))
                if len(frames[n])
            ),
            default=pd.Timestamp(scenario.accrual.start),
        )
        return pd.Timestamp(last).date()
    return pd.Timestamp(events.iloc[scenario.cut.target_events - 1]).date()


_DATE_COLUMNS = {
    "screening": "screened_date",
    "subjects": "randomized_date",
    "exposure": "date",
    "labs": "date",
    "adverse_events": "start_date",
    "lesions": "date",
    "responses": "date",
    "disposition": "date",
    "deaths": "date",
    "survival_followup": "date",
    "best_response": "response_date",
}


def cut_by_date(frames: dict[str, pd.DataFrame], cutoff: dt.date) -> dict[str, pd.DataFrame]:
    """Frames as known on ``cutoff``: rows dated after it removed, subjects randomized after it dropped."""
    stamp = pd.Timestamp(cutoff)
    out = {}
    for name, frame in frames.items():
        column = _DATE_COLUMNS[name]
        kept = frame[frame[column].isna() | (frame[column] <= stamp)] if len(frame) else frame
        out[name] = kept.reset_index(drop=True)
    subjects = set(out["subjects"]["subject_id"])
    for name in FRAME_NAMES:
        if name not in ("subjects", "screening") and len(out[name]):
            out[name] = out[name][out[name]["subject_id"].isin(subjects)].reset_index(drop=True)
    ae = out["adverse_events"]
    if len(ae):
        ae = ae.copy()
        ae.loc[ae["end_date"] > stamp, "end_date"] = pd.NaT
        out["adverse_events"] = ae
    subj = out["subjects"].copy()
    if len(subj):
        subj.loc[subj["last_dose_date"] > stamp, "last_dose_date"] = pd.NaT
        exposure = out["exposure"]
        given = exposure[exposure["dose"] > 0].groupby("subject_id")["date"].max()
        subj["last_dose_date"] = subj["subject_id"].map(given)
        out["subjects"] = subj
    return out
