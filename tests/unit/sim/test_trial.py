"""One virtual EVER-132-002 trial through the engine (run once per module, about 1 s)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialtwin.analysis.frames import validate_frames
from trialtwin.protocol import Protocol
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import TrialRecord, simulate_trial


@pytest.fixture(scope="module")
def record(ever: Protocol) -> TrialRecord:
    return simulate_trial(ever, Scenario(), rng=np.random.default_rng(11))


def test_frames_follow_the_shared_schema(record: TrialRecord) -> None:
    frames = validate_frames(record.frames)
    assert len(frames["subjects"]) > 250
    assert record.meta["randomized"] == 331  # the protocol's enrollment count


def test_same_seed_same_record(ever: Protocol, record: TrialRecord) -> None:
    again = simulate_trial(ever, Scenario(), rng=np.random.default_rng(11))
    assert again.cutoff == record.cutoff
    for name, frame in record.frames.items():
        pd.testing.assert_frame_equal(frame, again.frames[name], obj=name)


def test_screen_failures_come_from_the_engine_with_reasons(record: TrialRecord) -> None:
    screening = record.frames["screening"]
    failed = screening[screening["status"] != "eligible"]
    assert 0.1 < len(failed) / len(screening) < 0.4  # scenario default aims at about 25 %
    assert (failed["failed_criteria"] != "").all() and (failed["reasons"] != "").all()
    assert screening.loc[screening["status"] == "eligible", "failed_criteria"].eq("").all()


def test_progression_is_the_engines_recist_date(record: TrialRecord) -> None:
    """The first BICR time point with overall PD is the best-response frame's progression date."""
    responses = record.frames["responses"]
    first_pd = (
        responses[(responses["assessor"] == "BICR") & (responses["overall"] == "PD")]
        .groupby("subject_id")["date"]
        .min()
    )
    best = record.frames["best_response"]
    best = best[best["assessor"] == "BICR"].set_index("subject_id")["progression_date"].dropna()
    assert len(first_pd) > 100
    pd.testing.assert_series_equal(first_pd.sort_index(), best.sort_index(), check_names=False)


def test_cut_at_the_target_number_of_pfs_events(record: TrialRecord) -> None:
    """The cut-off is the date of the 232nd PFS-BICR event: >= 232 events by then (ties on that day), < 232 before."""
    responses = record.frames["responses"]
    pds = responses[(responses["assessor"] == "BICR") & (responses["overall"] == "PD")].groupby("subject_id")["date"]
    deaths = record.frames["deaths"].set_index("subject_id")["date"]
    events = pd.concat([pds.min(), deaths], axis=1).min(axis=1)
    assert (events <= pd.Timestamp(record.cutoff)).sum() >= 232
    assert (events < pd.Timestamp(record.cutoff)).sum() < 232
    for name, column in (("responses", "date"), ("exposure", "date"), ("deaths", "date")):
        assert record.frames[name][column].max() <= pd.Timestamp(record.cutoff)


def test_allocation_is_balanced(record: TrialRecord) -> None:
    counts = record.frames["subjects"]["arm"].value_counts()
    assert abs(counts["sg"] - counts["tpc"]) <= 8 * 2  # 8 strata, at most half a block of 4 each


def test_dosing_follows_the_regimens(record: TrialRecord, ever: Protocol) -> None:
    exposure = record.frames["exposure"]
    subjects = record.frames["subjects"].set_index("subject_id")
    for regimen_id, days in ((r.id, set(r.dosing_days)) for r in ever.regimens):
        ids = subjects.index[subjects["regimen"] == regimen_id]
        rows = exposure[exposure["subject_id"].isin(ids)]
        assert set(rows["cycle_day"]) <= days, regimen_id
    sg = exposure[exposure["drug"] == "sacituzumab govitecan"]
    assert set(sg["dose"].unique()) <= {0.0, 10.0, 7.5, 5.0}  # Trodelvy PI ladder
    assert set(exposure["action"]) >= {"give", "hold"}


def test_neutropenia_is_graded(record: TrialRecord) -> None:
    ae = record.frames["adverse_events"]
    neut = ae[ae["term"] == "Neutrophil count decreased"]
    assert set(neut["grade"]) <= {1, 2, 3, 4}
    assert (neut["grade"] >= 3).any()


def test_overall_survival_is_also_cut_at_its_own_event_count(record: TrialRecord) -> None:
    """The scenario's OS analysis is the date of the 156th death (derived from the published OS CI)."""
    assert record.os_frames is not None and record.os_cutoff is not None
    assert record.os_cutoff > record.cutoff
    deaths = record.os_frames["deaths"]["date"]
    assert (deaths <= pd.Timestamp(record.os_cutoff)).sum() >= 156
    assert (deaths < pd.Timestamp(record.os_cutoff)).sum() < 156
    assert len(record.os_frames["subjects"]) >= len(record.frames["subjects"])


def test_investigator_reads_progression_later_in_the_experimental_arm(record: TrialRecord) -> None:
    """Open-label reading (scenario investigator_late: SG 0.6, TPC 0.12; fitted to ESMOA23's PFS by investigator):
    in SG the investigator calls progression after BICR far more often than before it, more so than in TPC."""
    best = record.frames["best_response"].pivot(index="subject_id", columns="assessor", values="progression_date")
    arms = record.frames["subjects"].set_index("subject_id")["arm"]
    both = best.dropna().join(arms)
    margin = {}
    for arm, rows in both.groupby("arm"):
        later = (rows["investigator"] > rows["BICR"]).sum()
        earlier = (rows["investigator"] < rows["BICR"]).sum()
        margin[arm] = (later - earlier) / len(rows)
    assert margin["sg"] > 0.2
    assert margin["sg"] > margin["tpc"]
