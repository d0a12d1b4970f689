"""Parity: the batched engine in scan-aware mode agrees with the patient-level twin on EVER-132-002's PFS-BICR.

Same assumptions on both sides: ``trialtwin.cli.twin_design.design_from_scenario`` maps the twin's default
scenario (latent progression hazards per arm, death without progression, withdrawal, accrual ramp, strata) and
the protocol's tumour-assessment calendar (6-weekly to week 36, then 9-weekly, ±7 days, the twin's jitter) to a
``BatchDesign``; the reading of progression at scans is the twin's own BICR reading, measured by
``measure_reading`` (early/late documentation against RECIST 1.1 thresholds with measurement error).

Compared: the replicate means of the stratified Cox log HR (Efron) of PFS-BICR and of the Kaplan–Meier medians
per arm, the twin's from ``summarize_trial`` on its ADaM (``derive_all``), minus one day for the medians (ADaM
AVALD counts randomization as day 1, ADaM IG v1.3; the engine counts from 0).

Tolerance: 4 × the combined Monte-Carlo SE √(s²_twin / N + s²_batch / R), each s the replicate standard
deviation. With N = 30 twin replicates the SE is estimated with 29 degrees of freedom: P(|t₂₉| > 4) ≈ 4·10⁻⁴
per figure, about 10⁻³ for the three, so the test fails for a real difference, not by chance; it detects a bias
of about 0.1 on the log HR, 1.5 days on the TPC median (the medians sit on the third scan) and 0.5 months on
the SG median. docs/design/batched-engine.md gives a 160-replicate comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialtwin.analysis.derive import derive_all
from trialtwin.analysis.summary import summarize_trial
from trialtwin.cli.twin_design import design_from_scenario
from trialtwin.design.batch import simulate_batch
from trialtwin.design.batch.scans import DAYS_PER_MONTH
from trialtwin.protocol import Protocol
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import simulate_trial

N_TWIN = 30
R_BATCH = 20_000
K = 4.0


@pytest.mark.slow
def test_scan_aware_batch_engine_matches_the_twin(ever: Protocol) -> None:
    scenario = Scenario()
    twin = []
    for seed in np.random.SeedSequence(2026).spawn(N_TWIN):
        record = simulate_trial(ever, scenario, rng=np.random.default_rng(seed))
        summary = summarize_trial(derive_all(record.frames, ever, cutoff=record.cutoff), ever)
        hr = summary.get("PFS-BICR", "hazard_ratio")
        med_c = summary.get("PFS-BICR", "median", "tpc")
        med_e = summary.get("PFS-BICR", "median", "sg")
        assert hr is not None and med_c is not None and med_e is not None
        twin.append((math.log(hr.value), med_c.value - 1 / DAYS_PER_MONTH, med_e.value - 1 / DAYS_PER_MONTH))
    twin_values = np.asarray(twin)

    design = design_from_scenario(ever, scenario)
    assert design.observation == "scans" and design.arm_labels == ("tpc", "sg")
    result = simulate_batch(design, R_BATCH, rng=np.random.default_rng(2027))
    batch_values = np.column_stack([result.log_hr[:, 0], result.median_control[:, 0], result.median_experimental[:, 0]])
    assert not np.isnan(batch_values).any()
    for i, name in enumerate(("log HR", "median TPC", "median SG")):
        se = math.sqrt(twin_values[:, i].var(ddof=1) / N_TWIN + batch_values[:, i].var(ddof=1) / R_BATCH)
        difference = batch_values[:, i].mean() - twin_values[:, i].mean()
        assert abs(difference) < K * se, f"{name}: batch − twin = {difference:.4f}, {K:g} SE = {K * se:.4f}"
