"""Key figures of a trial (analysis.summary) and their comparison with published values."""

from __future__ import annotations

import numpy as np
import pytest

from trialtwin.analysis.cox import cox_ph
from trialtwin.analysis.derive import derive_all
from trialtwin.analysis.summary import Estimate, TrialSummary, compare_with_published, summarize_trial
from trialtwin.protocol import Protocol
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import simulate_trial


@pytest.fixture(scope="module")
def adam(ever: Protocol) -> dict[str, object]:
    record = simulate_trial(ever, Scenario(), rng=np.random.default_rng(21))
    return derive_all(record.frames, ever, cutoff=record.cutoff)  # type: ignore[return-value]


def test_hazard_ratio_is_the_stratified_cox_on_adtte(ever: Protocol, adam: dict) -> None:
    summary = summarize_trial(adam, ever)
    pfs = adam["ADTTE"][adam["ADTTE"]["PARAMCD"] == "PFS"]
    cox = cox_ph(
        pfs["AVAL"].to_numpy(float),
        1 - pfs["CNSR"].to_numpy(int),
        (pfs["ARMCD"] == "sg").to_numpy(float),
        strata=pfs[["STRAT1", "STRAT2", "STRAT3"]].astype(str).to_numpy(),
    )
    hr = summary.get("PFS-BICR", "hazard_ratio")
    assert hr is not None
    assert hr.value == pytest.approx(float(cox.hr[0]), rel=1e-12)
    assert hr.lower is not None and hr.upper is not None and hr.lower < hr.value < hr.upper


def test_every_published_efficacy_key_has_an_estimate(ever: Protocol, adam: dict) -> None:
    summary = summarize_trial(adam, ever)
    for pv in ever.published_results:
        if pv.endpoint is None and pv.characteristic != "Randomized (ITT)":
            continue  # baseline characteristics are summarised by the report, not here
        char = pv.characteristic if pv.endpoint in (None, "SAFETY") else None
        assert summary.get(pv.endpoint, pv.statistic.value, pv.arm, pv.at_months, char) is not None, pv.id


def test_rates_are_percent_and_counts_add_up(ever: Protocol, adam: dict) -> None:
    summary = summarize_trial(adam, ever)
    n = [summary.get(None, "count", arm, None, "Randomized (ITT)") for arm in ("sg", "tpc")]
    assert sum(e.value for e in n if e is not None) == len(adam["ADSL"])
    rate = summary.get("PFS-BICR", "rate", "sg", 6.0)
    assert rate is not None and 0 <= rate.value <= 100


def _summary(hr: float) -> TrialSummary:
    return TrialSummary("ever-132-002", "sg", "tpc", (Estimate("PFS-BICR", None, "hazard_ratio", None, None, hr),))


def test_comparison_uses_the_replicate_percentile_interval(ever: Protocol) -> None:
    """Published PFS HR 0.67 (NATMED) against 101 replicate HRs 0.50, 0.51, ..., 1.50: inside the 2.5-97.5 %."""
    table = compare_with_published([_summary(0.5 + i / 100) for i in range(101)], ever)
    row = table.set_index("id").loc["pfs-hr"]
    assert row["published"] == 0.67
    assert row["p2_5"] == pytest.approx(0.525) and row["p97_5"] == pytest.approx(1.475)
    assert row["mean"] == pytest.approx(1.0) and bool(row["inside"])
    far = compare_with_published([_summary(0.9 + i / 1000) for i in range(50)], ever).set_index("id")
    assert not bool(far.loc["pfs-hr", "inside"])
