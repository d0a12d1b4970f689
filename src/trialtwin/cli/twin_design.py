"""The batched design engine's view of a twin scenario: ``design_from_scenario(protocol, scenario)``.

This lives in ``trialtwin.cli`` because it needs both layers: ``trialtwin.design`` may import only ``protocol``
and ``analysis`` (pyproject import contracts), and a scenario file is not plain data for it — the EVER-132-002
file only names the study, its numbers are the defaults of ``trialtwin.sim.scenario.Scenario`` — so the mapping
reads the validated ``Scenario`` object, here, where both may be imported.

What maps (docs/design/batched-engine.md, "Scan-aware mode"):

- latent progression: ``outcomes[arm].progression_hazards`` on ``progression_cuts`` (piecewise exponential, the
  twin's ``draw_piecewise_exponential``), control = the comparator arm, experimental = the EXPERIMENTAL arm;
- death without progression: ``pre_progression_death_rate``; dropout: ``withdrawal_rate`` (the twin stops
  scanning at withdrawal, so progression after it is never seen);
- observation: the protocol's ``tumour_assessment`` calendar with the twin's window jitter (SD window / 2.5);
- enrolment: the twin's screening process (sites opening uniformly over ``activation_months``, then constant,
  ``n / 0.75`` screened over ``duration_months``; ``trialtwin.sim.population.simulate_arrivals``) times the
  planned 75 % pass rate, i.e. a linear ramp to n / (duration − activation / 2) per month, as monthly steps,
  shifted by the mean screening-to-randomization delay (4 days);
- strata: the protocol's factors with the scenario's eligible-population probabilities (prior lines 2 vs 3–4
  among 2–4 lines; visceral; prior CDK4/6), independent;
- the analysis: one look at ``cut.target_events`` (or at ``cut.date``).

- reading: the twin's BICR reads lesion measurements (with error) against the RECIST 1.1 thresholds, so a
  regrowing tumour can show progression a scan before its latent progression time, or a scan after it. With
  ``reading=True`` the mapping measures, per arm, how often the twin's own reader documents progression one
  scan early or late (``measure_reading``: the twin's ``simulate_course``, scan calendar and the engine's
  RECIST assessment on a few thousand virtual patients) and gives those probabilities to the design.

What does not map: death after a latent progression but before the scan that would show it, and withdrawal
in that gap (both well under 1 % of progressions here), and reading shifts of two scans or more.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from trialtwin.design.batch import BatchDesign, Cut, PiecewiseRate
from trialtwin.design.batch.scans import DAYS_PER_MONTH, NEVER, Reading, ScanSchedule
from trialtwin.engine.recist.assess import assess_recist
from trialtwin.engine.recist.best_response import RecistRules
from trialtwin.protocol.model import ArmType, Protocol
from trialtwin.sim.disease import simulate_course
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import _scans as twin_scans

#: Share of screened people randomized that the twin plans its screening for (``simulate_trial``: n / 0.75).
PLANNED_PASS_RATE = 0.75
#: Mean delay from screening to randomization in the twin (uniform 1–7 days).
RANDOMIZATION_DELAY_DAYS = 4.0


def design_from_scenario(
    protocol: Protocol, scenario: Scenario, *, observation: str = "scans", reading: bool = True
) -> BatchDesign:
    """The ``BatchDesign`` that mirrors ``scenario`` on ``protocol`` (module docstring for what maps)."""
    scenario.check_against(protocol)
    spec = protocol.randomization
    if spec is None or protocol.tumour_assessment is None:
        raise ValueError(f"{protocol.id}: needs a randomization and a tumour_assessment calendar")
    experimental = next(a for a in protocol.arms if a.type is ArmType.EXPERIMENTAL)
    control = next(a for a in protocol.arms if a.type is not ArmType.EXPERIMENTAL)

    def progression(arm: str) -> PiecewiseRate:
        out = scenario.outcomes[arm]
        return PiecewiseRate(out.progression_hazards, (0.0, *out.progression_cuts))

    def rate(arm: str, name: str) -> PiecewiseRate:
        return PiecewiseRate.constant(float(getattr(scenario.outcomes[arm], name)))

    base = BatchDesign.from_protocol(protocol, hr=1.0, control_median_months=1.0, events=1)
    months = None
    if scenario.cut.date is not None:
        months = (scenario.cut.date - scenario.accrual.start).days / DAYS_PER_MONTH
    return BatchDesign(
        n=protocol.enrollment.count,
        enrollment=_enrollment(scenario, protocol.enrollment.count),
        hazards=((progression(control.id), progression(experimental.id)),),
        dropout=((rate(control.id, "withdrawal_rate"), rate(experimental.id, "withdrawal_rate")),),
        death=((rate(control.id, "pre_progression_death_rate"), rate(experimental.id, "pre_progression_death_rate")),),
        looks=(Cut(events=scenario.cut.target_events if months is None else None, months=months),),
        strata=_strata(protocol, scenario, base.strata_labels),
        strata_labels=base.strata_labels,
        ratio=base.ratio,
        block_sizes=base.block_sizes,
        arm_labels=base.arm_labels,
        start=scenario.accrual.start if isinstance(scenario.accrual.start, dt.date) else None,
        name=f"{protocol.id} ({scenario.id})",
        observation=observation,
        scans=ScanSchedule.from_protocol(protocol.tumour_assessment, jitter_sd=0.4),
        reading=(
            (measure_reading(protocol, scenario, control.id), measure_reading(protocol, scenario, experimental.id))
            if reading and observation == "scans"
            else None
        ),
    )


def measure_reading(
    protocol: Protocol, scenario: Scenario, arm: str, *, patients: int = 6000, rows: int = 24
) -> Reading:
    """How the twin's BICR documents progression in ``arm``, as a ``Reading``: over ``patients`` virtual patients
    (seeded, so the design is reproducible), the twin's own disease course, scan calendar (with jitter) and the
    engine's RECIST 1.1 assessment; for each first scan on or after the latent progression (scan i, rows pooled
    from ``rows − 1`` on), the distribution of the documenting scan's offset from it (``NEVER`` when no scan
    within 3 years documents it). Patients whose first such scan is within 3 scans of the 3-year horizon are
    left out (their documentation could fall beyond it)."""
    rng = np.random.default_rng(np.random.SeedSequence([20261124, sum(arm.encode())]))
    rules = RecistRules.from_protocol(protocol.response_rules)
    outcome, tumour = scenario.outcomes[arm], scenario.tumour
    start = dt.date(2021, 1, 1)
    counts: dict[tuple[int, int], int] = {}
    seen = 0
    while seen < patients:
        course = simulate_course(outcome, tumour, rng=rng)
        record = twin_scans(protocol, course, start, 3 * 365.25, tumour.measurement_cv, rng)
        days = [(a.date - start).days for a in record.assessments[1:]]
        latent = course.progression_month * DAYS_PER_MONTH
        first = next((i for i, d in enumerate(days) if d >= latent), None)
        if first is None or first > len(days) - 4:
            continue
        seen += 1
        documented = assess_recist(record, rules=rules, check=False).progression_date
        shift = days.index((documented - start).days) - first if documented is not None else NEVER
        key = (min(first, rows - 1), shift)
        counts[key] = counts.get(key, 0) + 1
    shifts = sorted({s for _, s in counts})
    table: list[tuple[float, ...]] = []
    for i in range(rows):
        row = [counts.get((i, s), 0) for s in shifts]
        total = sum(row)
        table.append(tuple(c / total for c in row) if total else table[-1])
    return Reading(tuple(shifts), tuple(table))


def _enrollment(scenario: Scenario, n: int) -> PiecewiseRate:
    """Randomizations per month: a linear ramp over the activation months (monthly steps at the mid-point
    rate) to n / (duration − activation / 2), after the screening-to-randomization delay."""
    acc = scenario.accrual
    plateau = n / (acc.duration_months - acc.activation_months / 2.0)
    delay = RANDOMIZATION_DELAY_DAYS / DAYS_PER_MONTH
    steps = max(1, round(acc.activation_months))
    width = acc.activation_months / steps
    starts = [0.0] + [delay + k * width for k in range(steps + 1)]
    rates = [0.0] + [plateau * (k + 0.5) / steps for k in range(steps)] + [plateau]
    return PiecewiseRate(tuple(rates), tuple(starts))


def _strata(protocol: Protocol, scenario: Scenario, labels: tuple[str, ...]) -> tuple[float, ...]:
    """Probability of each stratum label (``code/code/...``), factors independent."""
    pop = scenario.population
    eligible_lines = {int(k): p for k, p in pop.prior_lines.items() if 2 <= int(k) <= 4}
    total = sum(eligible_lines.values())
    two = eligible_lines.get(2, 0.0) / total if total else 0.5
    per_factor = {
        "prior_lines": {"2": two, "3-4": 1.0 - two},
        "visceral": {"yes": pop.p_visceral, "no": 1.0 - pop.p_visceral},
        "prior_cdk46": {"yes": pop.p_prior_cdk46, "no": 1.0 - pop.p_prior_cdk46},
    }
    spec = protocol.randomization
    factors = list(spec.stratified_by) if spec is not None else []
    probs = []
    for label in labels:
        p = 1.0
        for factor, code in zip(factors, label.split("/"), strict=False):
            levels = per_factor.get(factor)
            p *= levels[code] if levels is not None and code in levels else 1.0 / len(protocol.factor(factor).levels)
        probs.append(p)
    s = sum(probs)
    return tuple(p / s for p in probs)
