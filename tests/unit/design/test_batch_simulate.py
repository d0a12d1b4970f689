"""The batched simulator (trialtwin.design.batch.simulate): enrolment, strata, permuted blocks, outcomes, cuts,
chunking and workers, results."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialtwin.design.batch import (
    TICKS_PER_MONTH,
    BatchDesign,
    BatchInputError,
    Cut,
    PiecewiseRate,
    default_workers,
    simulate_batch,
    simulate_trials,
)
from trialtwin.design.batch.simulate import _run_chunk
from trialtwin.protocol import Protocol


@pytest.fixture(scope="module")
def design(ever: Protocol) -> BatchDesign:
    return BatchDesign.from_protocol(ever, hr=0.67, control_median_months=4.2, events=232)


def _imbalance_ok(arms: np.ndarray, strata: np.ndarray, limit: int) -> bool:
    """Within every stratum, in enrolment order, |#experimental − #control| never exceeds ``limit``."""
    for s in np.unique(strata):
        seq = arms[strata == s].astype(np.int64) * 2 - 1
        if np.abs(np.cumsum(seq)).max(initial=0) > limit:
            return False
    return True


def test_rows_are_in_stratum_then_enrolment_order(design: BatchDesign) -> None:
    """The layout the statistics rely on: strata non-decreasing, enrolment increasing within a stratum."""
    b = simulate_trials(design, 50, rng=np.random.default_rng(1))
    assert b.enrolled.shape == (50, 331)
    assert np.all(np.diff(b.stratum.astype(int), axis=1) >= 0)
    same = np.diff(b.stratum.astype(int), axis=1) == 0
    assert np.all(np.diff(b.enrolled, axis=1)[same] >= 0)
    assert np.array_equal(b.strata_counts.sum(axis=1), np.full(50, 331))
    assert np.array_equal(b.cell, b.stratum + 8 * np.arange(50)[:, None])


def test_permuted_blocks_bound_imbalance(design: BatchDesign) -> None:
    """Blocks of 2 and 4 at 1:1: within every stratum the running imbalance is at most 2 (half the largest
    block) at every enrolment, and each stratum is balanced to within 2 at the end (Matts & Lachin 1988)."""
    b = simulate_trials(design, 200, rng=np.random.default_rng(2))
    assert all(_imbalance_ok(b.arm[r], b.stratum[r], 2) for r in range(200))
    assert np.abs(b.arm.sum(axis=1) - 331 / 2).max() <= 8.5  # 8 strata, each within 2 (i.e. ±1 per arm)


def test_permuted_blocks_draw_sizes_and_arrangements_uniformly(design: BatchDesign) -> None:
    """The first two subjects of a stratum differ in arm with probability 1/2 · 1 + 1/2 · 4/6 = 5/6 (block
    size 2 or 4 equally likely; 4 of the 6 arrangements of a 4-block start with two different arms)."""
    b = simulate_trials(design, 4000, rng=np.random.default_rng(3))
    starts = (np.cumsum(b.strata_counts, axis=1) - b.strata_counts).ravel()
    rows = np.repeat(np.arange(4000), 8)
    ok = b.strata_counts.ravel() >= 2
    differ = b.arm[rows[ok], starts[ok]] != b.arm[rows[ok], starts[ok] + 1]
    p = differ.mean()
    assert abs(p - 5 / 6) < 4 * math.sqrt(5 / 36 / differ.size)


def test_other_ratio_and_block_sizes() -> None:
    """1:2 with blocks of 3 and 6: within a stratum #experimental − 2·#control is 0 after every complete block
    (so never beyond ±6), and the overall share is 2/3 experimental."""
    d = BatchDesign.exponential(
        300, hr=0.7, control_median_months=5, events=150, ratio=(1, 2), block_sizes=(3, 6), strata=(0.5, 0.5)
    )
    b = simulate_trials(d, 300, rng=np.random.default_rng(4))
    share = b.arm.mean()
    assert abs(share - 2 / 3) < 0.01
    for r in range(50):
        for s in (0, 1):
            seq = b.arm[r][b.stratum[r] == s].astype(int)
            drift = np.cumsum(np.where(seq == 1, 1, -2))  # zero after every complete block
            assert np.abs(drift).max(initial=0) <= 6


def test_enrolment_is_poisson_with_the_design_rate(design: BatchDesign) -> None:
    """n arrivals at rate 331/24 per month: the last arrival has mean n/rate = 24 months and SD √n/rate."""
    b = simulate_trials(design, 4000, rng=np.random.default_rng(5))
    last = b.enrolled.max(axis=1)
    assert abs(last.mean() - 24.0) < 4 * (math.sqrt(331) / (331 / 24)) / math.sqrt(4000)
    assert abs(last.std() - math.sqrt(331) / (331 / 24)) < 0.05


def test_piecewise_enrolment_ramp() -> None:
    """Rate 5/month for 6 months then 20/month: about 30 subjects by month 6."""
    d = BatchDesign.exponential(
        200,
        hr=1.0,
        control_median_months=5,
        events=100,
        enrollment=PiecewiseRate((5.0, 20.0), (0.0, 6.0)),
    )
    b = simulate_trials(d, 2000, rng=np.random.default_rng(6))
    by_6 = (b.enrolled < 6.0).sum(axis=1)
    assert abs(by_6.mean() - 30.0) < 0.5
    assert abs(np.sort(b.enrolled, axis=1)[:, -1].mean() - (6 + 170 / 20)) < 0.1


def test_exit_times_are_exponential(design: BatchDesign) -> None:
    """Control exits have median 4.2 months; experimental 4.2/0.67 (no dropout: every exit is an event)."""
    b = simulate_trials(design, 500, rng=np.random.default_rng(7))
    assert bool(b.exit_is_event.all())
    for arm, median in ((0, 4.2), (1, 4.2 / 0.67)):
        assert np.median(b.exit[b.arm == arm]) == pytest.approx(median, rel=0.02)


def test_dropout_competes_with_the_event() -> None:
    """Event hazard λ and dropout hazard η: a fraction λ/(λ + η) of exits are events, at rate λ + η."""
    lam, eta = math.log(2) / 6.0, 0.05
    d = BatchDesign.exponential(300, hr=1.0, control_median_months=6.0, events=100, dropout_per_month=eta)
    b = simulate_trials(d, 400, rng=np.random.default_rng(8))
    assert b.exit_is_event.mean() == pytest.approx(lam / (lam + eta), abs=0.01)
    assert b.exit.mean() == pytest.approx(1 / (lam + eta), rel=0.02)
    assert bool(np.all(np.isinf(b.event_month[~b.exit_is_event])))


def test_delayed_effect_hazards() -> None:
    """HR 1 for the first 3 months, then 0.5: both arms exit before month 3 equally often, not after."""
    d = BatchDesign.exponential(
        400, hr=(1.0, 0.5), hr_starts=(0.0, 3.0), control_median_months=6.0, events=200, block_sizes=(2,)
    )
    b = simulate_trials(d, 200, rng=np.random.default_rng(9))
    early = [(b.exit[b.arm == a] < 3.0).mean() for a in (0, 1)]
    assert early[0] == pytest.approx(1 - 2 ** (-3 / 6), abs=0.01)
    assert early[1] == pytest.approx(early[0], abs=0.01)
    late = [np.median(b.exit[(b.arm == a) & (b.exit > 3.0)]) - 3.0 for a in (0, 1)]
    assert late[1] / late[0] == pytest.approx(2.0, rel=0.05)


def test_per_stratum_hazards() -> None:
    """Hazards given per stratum apply to that stratum only."""
    fast, slow = PiecewiseRate.from_median(2.0), PiecewiseRate.from_median(8.0)
    d = BatchDesign(
        n=400,
        enrollment=PiecewiseRate.constant(40.0),
        hazards=((fast, fast), (slow, slow)),
        strata=(0.5, 0.5),
        looks=(Cut(events=300),),
    )
    b = simulate_trials(d, 200, rng=np.random.default_rng(10))
    assert np.median(b.exit[b.stratum == 0]) == pytest.approx(2.0, rel=0.03)
    assert np.median(b.exit[b.stratum == 1]) == pytest.approx(8.0, rel=0.03)


def test_event_cut_has_exactly_the_target(design: BatchDesign) -> None:
    """Cut at the 232nd event: 232 events in every replicate (no ties at the cut here), nobody enrolled after
    the cut is analysed, and follow-up never passes the cut."""
    b = simulate_trials(design, 300, rng=np.random.default_rng(11))
    ticks, event = b.follow_up(0)
    assert np.array_equal(event.sum(axis=1), np.full(300, 232))
    assert bool(b.reached.all())
    late = b.enrolled >= b.cuts[:, :1].astype(np.float32)
    assert not ticks[late].any()
    months = ticks / TICKS_PER_MONTH
    end = (b.enrolled + months)[ticks > 0]
    assert bool(np.all(end <= np.broadcast_to(b.cuts[:, :1], ticks.shape)[ticks > 0] + 2 / TICKS_PER_MONTH))


def test_calendar_cut_and_first_of_both() -> None:
    """A calendar look at month 18 analyses everyone enrolled by then; events=… or months=… takes the first."""
    d = BatchDesign.exponential(
        331, hr=0.7, control_median_months=4.2, events=(100, 300), months=(30.0, 18.0), strata=(1.0,)
    )
    b = simulate_trials(d, 200, rng=np.random.default_rng(12))
    assert np.all(b.cuts[:, 1] == np.float32(18.0))  # the 300th event comes after month 18
    assert not b.reached[:, 1].any()
    assert np.all(b.cuts[:, 0] < 18.0) and b.reached[:, 0].all()
    ticks, event = b.follow_up(1)
    assert np.array_equal((ticks > 0).sum(axis=1), (b.enrolled < np.float32(18.0)).sum(axis=1))
    assert not event[ticks == 0].any()


def test_unreached_target_uses_all_follow_up() -> None:
    """With heavy dropout 320 events may never happen: the look then uses all follow-up and says so."""
    d = BatchDesign.exponential(331, hr=1.0, control_median_months=4.2, events=320, dropout_per_month=0.2)
    b = simulate_trials(d, 100, rng=np.random.default_rng(13))
    assert not b.reached.any()
    assert np.allclose(b.cuts[:, 0], np.max(b.enrolled + b.exit, axis=1), rtol=1e-6)


def test_same_seed_same_result_for_any_workers_and_chunk_order(design: BatchDesign) -> None:
    """Chunk k uses the k-th spawned seed, so 1 or 2 worker processes and any chunk order agree exactly."""
    one = simulate_batch(design, 2500, rng=np.random.default_rng(14), chunk_size=1000, workers=1)
    two = simulate_batch(design, 2500, rng=np.random.default_rng(14), chunk_size=1000, workers=2)
    for name in ("z", "log_hr", "se_log_hr", "median_control", "events", "analysis_month"):
        assert np.array_equal(getattr(one, name), getattr(two, name), equal_nan=True), name
    seeds = np.random.default_rng(14).bit_generator.seed_seq.spawn(3)  # type: ignore[union-attr]
    sizes = (1000, 1000, 500)
    backwards = {k: _run_chunk(design, sizes[k], seeds[k], one.ties) for k in (2, 1, 0)}
    z = np.concatenate([backwards[k]["z"] for k in range(3)])
    assert np.array_equal(z, one.z, equal_nan=True)
    other = simulate_batch(design, 2500, rng=np.random.default_rng(15), chunk_size=1000)
    assert not np.array_equal(other.z, one.z)


def test_summary_power_and_monte_carlo_error(design: BatchDesign) -> None:
    """Power = mean(Z < −z₀.₉₇₅) = mean(one-sided p < 0.025), with SE √(p(1 − p)/R)."""
    res = simulate_batch(design, 2000, rng=np.random.default_rng(16))
    row = res.summary.iloc[0]
    power = float(np.mean(res.p[:, 0] < 0.025))
    assert row["power"] == pytest.approx(power)
    assert row["power_mc_se"] == pytest.approx(math.sqrt(power * (1 - power) / 2000))
    assert row["events"] == 232
    assert 0.75 < power < 0.92
    assert res.hr_ci.shape == (2000, 1, 2)
    assert np.all(res.hr_ci[:, 0, 0] < res.hr[:, 0]) and np.all(res.hr[:, 0] < res.hr_ci[:, 0, 1])
    assert res.medians.shape == (2000, 1, 2)
    assert "one-sided α = 0.025" in res.summary.attrs["footnote"]


def test_crossing_with_group_sequential_bounds(ever: Protocol) -> None:
    """Two looks (116 and 232 events) with O'Brien–Fleming-type bounds 2.963, 1.969 (gsDesign sfLDOF, K = 2):
    the stopping probabilities add up to the cumulative power; a bound of +∞ at look 1 never stops there."""
    d = BatchDesign.from_protocol(ever, hr=0.67, control_median_months=4.2, events=(116, 232))
    res = simulate_batch(d, 3000, rng=np.random.default_rng(17))
    table = res.crossing([2.963, 1.969])
    assert table["power_cumulative"].iloc[-1] == pytest.approx(table["p_efficacy"].sum())
    assert 0.1 < table["p_efficacy"].iloc[0] < 0.35
    never = res.crossing([math.inf, 1.96])
    assert never["p_efficacy"].iloc[0] == 0.0
    assert never["p_efficacy"].iloc[1] == pytest.approx(float(res.rejected([math.inf, 1.96])[:, 1].mean()))
    with pytest.raises(BatchInputError, match="2 efficacy bounds"):
        res.crossing([1.96])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"replicates": 0}, "replicates", id="replicates-positive"),
        pytest.param({"chunk_size": 0}, "chunk_size", id="chunk-positive"),
        pytest.param({"workers": 0}, "workers", id="workers-positive"),
        pytest.param({"ties": "exact"}, "ties", id="ties-known"),
        pytest.param({"alpha": 0.7}, "alpha", id="alpha-one-sided"),
        pytest.param({"rng": "seed"}, "rng", id="rng-kind"),
    ],
)
def test_simulate_batch_rejects(design: BatchDesign, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"replicates": 10, "rng": 1}
    args.update(kwargs)
    replicates = args.pop("replicates")
    with pytest.raises(BatchInputError, match=message):
        simulate_batch(design, replicates, **args)  # type: ignore[arg-type]


def test_progress_reports_replicates_done(design: BatchDesign) -> None:
    """``progress`` gets the running count after each chunk (in the calling process), ending at the total."""
    seen: list[int] = []
    simulate_batch(design, 2500, rng=1, chunk_size=1000, progress=seen.append)
    assert seen == [1000, 2000, 2500]
    two: list[int] = []
    simulate_batch(design, 2500, rng=1, chunk_size=500, workers=2, progress=two.append)
    assert two[-1] == 2500 and two == sorted(two)


def test_integer_seed_and_seed_sequence_are_accepted(design: BatchDesign) -> None:
    a = simulate_batch(design, 20, rng=5)
    b = simulate_batch(design, 20, rng=np.random.SeedSequence(5))
    assert np.array_equal(a.z, b.z)
    assert default_workers() >= 1
