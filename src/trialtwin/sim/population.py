"""Virtual people: screening arrivals across the sites and the facts each screened person brings.

Nothing here decides eligibility or strata: the engine does, from these facts (``evaluate_eligibility``,
``evaluate_strata``), exactly as it would for a real patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trialtwin.protocol.model import Protocol
from trialtwin.sim.scenario import Scenario

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True, slots=True)
class Arrival:
    """A person screened at a site on a day."""

    day: int  # days since the accrual start
    site_id: str
    country: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A screened person: the facts the CRF holds plus the twin-only covariates (not shown to the engine)."""

    arrival: Arrival
    facts: dict[str, Any]
    weight_kg: float
    height_cm: float
    ugt1a1_homozygous: bool
    ecog: int


@dataclass(frozen=True, slots=True)
class TrialSite:
    id: str
    country: str


def trial_sites(protocol: Protocol, scenario: Scenario) -> tuple[TrialSite, ...]:
    """The protocol's sites, or the scenario's virtual sites when the protocol lists none (ids CC-V001, ...)."""
    if protocol.sites:
        return tuple(TrialSite(s.id, s.country) for s in protocol.sites)
    out: list[TrialSite] = []
    for country, n in scenario.accrual.virtual_sites.items():
        code = "".join(w[0] for w in country.split()).upper() if " " in country else country[:2].upper()
        out.extend(TrialSite(f"{code}-V{i:03d}", country) for i in range(1, n + 1))
    return tuple(out)


def simulate_arrivals(
    protocol: Protocol, scenario: Scenario, n_expected: float, *, rng: np.random.Generator
) -> list[Arrival]:
    """Screening arrivals (sorted by day) over twice the planned accrual period.

    Each site opens at a uniform time within the activation ramp and then screens as a Poisson process with a
    rate proportional to its country's relative rate, scaled so that ``n_expected`` people are screened within
    the planned accrual period. The caller stops reading when enough subjects are randomized.
    """
    acc = scenario.accrual
    sites = trial_sites(protocol, scenario)
    duration = acc.duration_months * DAYS_PER_MONTH
    opens = rng.uniform(0.0, acc.activation_months * DAYS_PER_MONTH, size=len(sites))
    weights = np.array([acc.country_rate[s.country] for s in sites])
    exposure = float(np.sum(weights * np.clip(duration - opens, 0.0, None)))
    base = n_expected / exposure  # screenings per site-day at relative rate 1
    horizon = 2.0 * duration
    arrivals: list[Arrival] = []
    for site, open_day, weight in zip(sites, opens, weights, strict=True):
        n = rng.poisson(base * weight * (horizon - open_day))
        days = np.sort(rng.uniform(open_day, horizon, size=n))
        arrivals.extend(Arrival(int(d), site.id, site.country) for d in days)
    arrivals.sort(key=lambda a: (a.day, a.site_id))
    return arrivals


def simulate_candidate(
    protocol: Protocol, scenario: Scenario, arrival: Arrival, *, rng: np.random.Generator
) -> Candidate:
    """Draw one screened person's facts (eligibility CRF) and twin covariates."""
    pop = scenario.population
    age = float(np.clip(rng.normal(pop.age_mean, pop.age_sd), pop.age_min, pop.age_max))
    male = bool(rng.random() < pop.p_male)
    lines_levels = list(pop.prior_lines)
    lines = int(lines_levels[rng.choice(len(lines_levels), p=list(pop.prior_lines.values()))])
    liver = bool(rng.random() < pop.p_liver_metastases)
    visceral = liver or bool(
        rng.random() < max(0.0, pop.p_visceral - pop.p_liver_metastases) / (1 - pop.p_liver_metastases)
    )
    facts: dict[str, Any] = {
        "age": round(age, 1),
        "sex": "male" if male else "female",
        "healthy_volunteer": False,
        "metastatic_breast_cancer": True,
        "prior_chemo_lines_mbc": lines,
        "visceral_metastasis": visceral,
        "liver_metastases": liver,
        "prior_cdk46_inhibitor": bool(rng.random() < pop.p_prior_cdk46),
        "anc": round(float(pop.anc_median * pop.anc_gsd ** rng.standard_normal()), 2),
        "platelets": round(float(235.0 * 1.38 ** rng.standard_normal()), 0),
        "hemoglobin": round(float(rng.normal(11.9, 1.25)), 1),
        "total_bilirubin": round(float(0.5 * 1.6 ** rng.standard_normal()), 2),
        "ast": round(float((1.1 if liver else 0.75) * 1.55 ** rng.standard_normal()), 2),
        "alt": round(float((1.0 if liver else 0.7) * 1.6 ** rng.standard_normal()), 2),
        "creatinine_clearance": round(float(rng.normal(104.0, 18.0)), 0),
    }
    for fact, p in pop.screen_failure_facts.items():
        value = bool(rng.random() < p)
        facts[fact] = value
    if male:
        facts["pregnant"] = False
        facts["lactating"] = False
    declared = protocol.eligibility.fact_map()
    facts = {k: v for k, v in facts.items() if k in declared}
    country = arrival.country
    w_mean, w_sd = pop.weight_kg[country]
    h_mean, h_sd = pop.height_cm[country]
    sex_shift = (12.0, 12.0) if male else (0.0, 0.0)
    return Candidate(
        arrival=arrival,
        facts=facts,
        weight_kg=round(float(max(35.0, rng.normal(w_mean + sex_shift[0], w_sd))), 1),
        height_cm=round(float(max(135.0, rng.normal(h_mean + sex_shift[1], h_sd))), 1),
        ugt1a1_homozygous=bool(rng.random() < pop.p_ugt1a1_28_homozygous),
        ecog=int(rng.choice(len(pop.ecog_probs), p=list(pop.ecog_probs.values()))),
    )
