"""Scan-aware observation in the batched engine (trialtwin.design.batch.scans): the calendar, the jitter, the
lazy first/last-scan look-ups against brute force, and what a scan-mode trial observes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trialtwin.design.batch import BatchDesign, BatchInputError, simulate_trials
from trialtwin.design.batch.scans import DAYS_PER_MONTH, Reading, ScanSchedule, _actual_day, _tables
from trialtwin.protocol import Protocol


@pytest.fixture(scope="module")
def schedule(ever: Protocol) -> ScanSchedule:
    assert ever.tumour_assessment is not None
    return ScanSchedule.from_protocol(ever.tumour_assessment)


def _all_days(schedule: ScanSchedule, key: np.ndarray) -> np.ndarray:
    """(subjects, scans) actual day of every scan, by brute force."""
    t = _tables(schedule)
    k = np.broadcast_to(np.arange(t.count, dtype=np.int32), (key.size, t.count))
    return _actual_day(t, np.ascontiguousarray(k), np.repeat(key[:, None], t.count, axis=1))


def test_calendar_is_the_protocols(schedule: ScanSchedule) -> None:
    """EVER-132-002 protocol tumour_assessment: every 6 weeks to week 36, then every 9 weeks, ±7 days."""
    days, windows = schedule.calendar()
    assert list(days[:8]) == [42, 84, 126, 168, 210, 252, 315, 378]
    assert set(windows.tolist()) == {7}
    assert schedule.label == "every 6 weeks to week 36 (±7 d), then every 9 weeks (±7 d)"


def test_jitter_is_the_twins_rounded_clipped_normal(schedule: ScanSchedule) -> None:
    """Offsets follow round(N(0, 7/2.5)) clipped to ±7 days (trialtwin.sim.trial._scans): frequencies within 4 SE
    of the probabilities computed from the normal CDF."""
    key = np.random.default_rng(1).integers(0, 2**32, size=40_000, dtype=np.uint32)
    offsets = (_all_days(schedule, key)[:, :6] - np.arange(1, 7) * 42).ravel()
    sd = 7 / 2.5
    for d in range(-7, 8):
        lo = -math.inf if d == -7 else d - 0.5
        hi = math.inf if d == 7 else d + 0.5
        p = stats.norm.cdf(hi / sd) - stats.norm.cdf(lo / sd)
        observed = float(np.mean(offsets == d))
        assert abs(observed - p) < 4 * math.sqrt(p * (1 - p) / offsets.size) + 1e-6, d


def test_lookups_agree_with_brute_force(schedule: ScanSchedule) -> None:
    rng = np.random.default_rng(2)
    key = rng.integers(0, 2**32, size=20_000, dtype=np.uint32)
    months = rng.uniform(0, 40, size=key.size).astype(np.float32)
    months[:50] = np.inf
    days = _all_days(schedule, key).astype(np.float64)
    t = months.astype(np.float64)[:, None] * DAYS_PER_MONTH
    after = np.where(days >= t, days, np.inf).min(axis=1) / DAYS_PER_MONTH
    before = np.where(days <= t, days, -np.inf).max(axis=1)
    before = np.where(np.isfinite(before), before, 0.0) / DAYS_PER_MONTH
    np.testing.assert_allclose(schedule.first_on_or_after(months, key), after, rtol=1e-6)
    finite = np.isfinite(months)
    np.testing.assert_allclose(schedule.last_on_or_before(months, key)[finite], before[finite], rtol=1e-6)
    early = np.full(10, 0.5, dtype=np.float32)  # before the first scan's window: no scan yet
    assert np.all(schedule.last_on_or_before(early, key[:10]) == 0)


def test_overlapping_windows_and_missing_schedule_are_errors() -> None:
    with pytest.raises(BatchInputError, match="overlap"):
        ScanSchedule(((2, None, 7),))
    with pytest.raises(BatchInputError, match="observation='scans' needs"):
        BatchDesign.exponential(100, hr=0.7, control_median_months=4, events=50, observation="scans")
    with pytest.raises(BatchInputError, match="observation"):
        BatchDesign.exponential(100, hr=0.7, control_median_months=4, events=50, observation="weekly")


def test_scan_mode_observes_progression_at_scans_and_death_at_its_date(ever: Protocol) -> None:
    design = BatchDesign.from_protocol(
        ever, hr=0.7, control_median_months=4.2, events=232, death_per_month=0.05, observation="scans"
    )
    assert design.scans is not None
    batch = simulate_trials(design, 200, rng=np.random.default_rng(3))
    assert batch.event_time is not None and batch.scan_key is not None
    event = np.isfinite(batch.event_time)
    detected = design.scans.first_on_or_after(batch.exit, batch.scan_key)
    at_scan = np.isclose(batch.event_time, detected)
    at_death = np.isclose(batch.event_time, batch.exit)
    assert np.all(at_scan | at_death | ~event)
    # deaths (≈ 0.05 / (0.05 + 0.165) of events) are seen at their date, not at a scan
    share_at_death = float(np.mean((at_death & ~at_scan)[event]))
    assert 0.15 < share_at_death < 0.30
    # analysed follow-up: events at the observed time, censoring at a scan day (or 0: not analysed)
    ticks, ev = batch.follow_up(0)
    days = ticks[~ev].astype(np.float64) / 2**16 * DAYS_PER_MONTH
    nominal = np.asarray(design.scans.calendar()[0], dtype=np.float64)
    nearest = np.abs(days[:, None] - nominal[None, :]).min(axis=1)
    assert np.all((days == 0) | (nearest <= 7.01))
    # the cut counts observed events only: exactly 232 by the 232nd observed event
    assert np.all(np.count_nonzero(ev, axis=1) == 232)


def test_reading_shifts_the_documenting_scan(ever: Protocol) -> None:
    """Reading.early_late(0.2, 0.1): about 20 % of progressions documented one scan early, 10 % one late."""
    base = BatchDesign.from_protocol(ever, hr=1.0, control_median_months=4.2, events=232, observation="scans")
    shifted = BatchDesign(
        n=base.n,
        enrollment=base.enrollment,
        hazards=base.hazards,
        looks=base.looks,
        strata=base.strata,
        strata_labels=base.strata_labels,
        block_sizes=base.block_sizes,
        observation="scans",
        scans=base.scans,
        reading=(Reading.early_late(0.2, 0.1), Reading.early_late(0.2, 0.1)),
    )
    assert shifted.scans is not None
    batch = simulate_trials(shifted, 100, rng=np.random.default_rng(4))
    assert batch.event_time is not None and batch.scan_key is not None
    first = shifted.scans.first_index(batch.exit, batch.scan_key)
    seen = np.isfinite(batch.event_time) & (first > 0)
    documented = shifted.scans.first_index(batch.event_time - np.float32(1e-3), batch.scan_key)  # float32 months
    shift = (documented - first)[seen]
    n = shift.size
    for value, p in ((-1, 0.2), (1, 0.1)):
        assert abs(np.mean(shift == value) - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert set(np.unique(shift)) <= {-1, 0, 1}
    with pytest.raises(BatchInputError, match="summing to 1"):
        Reading((-1, 0), ((0.5, 0.6),))


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_scan_mode_statistics_equal_the_analysis_functions(ever: Protocol, ties: str) -> None:
    """Scan-mode data are heavily tied (events share scan days): the engine's Z, log HR, SE and KM medians still
    equal trialtwin.analysis on the same subject-level data (validated against R survival), as for continuous
    data in tests/validation/test_batch_parity.py."""
    from trialtwin.analysis import cox_ph, kaplan_meier, logrank_test
    from trialtwin.design.batch import analyse_trials

    design = BatchDesign.from_protocol(
        ever, hr=0.67, control_median_months=4.2, events=(116, 232), dropout_per_month=0.02, observation="scans"
    )
    batch = simulate_trials(design, 4, rng=np.random.default_rng(5))
    out = analyse_trials(batch, ties=ties)
    assert out["tied"].all()
    for look in (0, 1):
        for r in range(batch.replicates):
            data = batch.analysis_data(r, look)
            assert len(data) == out["subjects"][r, look]
            lr = logrank_test(data.time, data.event, data.arm, strata=data.stratum)
            fit = cox_ph(data.time, data.event, {"arm": data.arm}, strata=data.stratum, ties=ties)
            km = kaplan_meier(data.time, data.event, data.arm)
            assert out["z"][r, look] == pytest.approx(lr.z, abs=1e-10)
            assert out["log_hr"][r, look] == pytest.approx(fit.coef[0], abs=1e-10)
            assert out["se_log_hr"][r, look] == pytest.approx(fit.se[0], rel=1e-8)
            for arm, name in ((0, "median_control"), (1, "median_experimental")):
                assert out[name][r, look] == pytest.approx(km.curves[arm].quantile(0.5)[0], abs=1e-12, nan_ok=True)


def test_unreached_target_in_scan_mode_keeps_every_observed_event(ever: Protocol) -> None:
    """A target never reached (heavy dropout): the look uses all follow-up, including events observed at a scan
    after the latent progression — nothing observed is lost."""
    design = BatchDesign.from_protocol(
        ever, hr=1.0, control_median_months=20.0, events=300, dropout_per_month=0.3, observation="scans"
    )
    batch = simulate_trials(design, 20, rng=np.random.default_rng(6))
    assert not batch.reached[:, 0].any()
    _, event = batch.follow_up(0)
    assert np.array_equal(np.count_nonzero(event, axis=1), np.count_nonzero(np.isfinite(batch.event_month), axis=1))
