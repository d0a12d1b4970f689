"""Scenario: the assumptions of a twin run, as validated data (like the protocol).

Every parameter has a name, a unit, a default and a note saying where it came from; ``describe_parameters``
lists them (``trialtwin scenario show``). A scenario file only overrides what it changes. Unknown parameters,
negative rates, distributions that cannot be sampled (probabilities that do not sum to 1, a non-positive spread)
and a study/scenario mismatch are errors naming the field.

Sources: published EVER-132-002 figures (facts file section 2); where nothing is published the note says
"assumption" and why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Protocol


class ScenarioError(TrialtwinError):
    """A scenario file is malformed or does not fit its study."""


def P(default: Any, unit: str, note: str, **constraints: Any) -> Any:
    """A scenario parameter: default, unit and a note on its source (kept in the JSON schema)."""
    return Field(default, json_schema_extra={"unit": unit, "note": note}, **constraints)


class _Block(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Accrual(_Block):
    """Screening arrivals across the protocol's sites (piecewise: linear activation ramp, then constant)."""

    start: dt.date = P(dt.date(2020, 11, 23), "date", "Registry start date (ClinicalTrials.gov NCT04639986)")
    duration_months: PositiveFloat = P(
        20.0,
        "months",
        "Assumption: facts file section 9 says about 24 months; 20 months lets all 331 be randomized before the "
        "232nd PFS event, as the published ITT of 331 at the primary analysis implies",
    )
    activation_months: PositiveFloat = P(
        8.0, "months", "Assumption: sites open uniformly over the first 8 months (typical multinational ramp)"
    )
    virtual_sites: dict[str, int] = P(
        {},
        "sites per country",
        "Only for protocols without a public site list: this many virtual sites per country (ids CC-V001, ...)",
    )
    country_rate: dict[str, PositiveFloat] = P(
        {"China": 1.0, "South Korea": 1.15, "Taiwan": 0.9},
        "relative screening rate per site",
        "Assumption: per-site rates by country relative to China; country split not published",
    )


class Binary(_Block):
    """A yes/no fact with its probability."""

    p: Probability


class Population(_Block):
    """Distributions of the screened population's facts (the engine's eligibility decides who enters)."""

    age_mean: PositiveFloat = P(52.0, "years", "Published median age 52 (ESMO Asia 2023 LBA4)")
    age_sd: PositiveFloat = P(10.0, "years", "Assumption: usual spread of age in MBC trials")
    age_min: PositiveFloat = P(22.0, "years", "Assumption: youngest screened patient")
    age_max: PositiveFloat = P(82.0, "years", "Assumption: oldest screened patient")
    p_male: Probability = P(2 / 331, "probability", "2 of 331 randomized were men (PATHWAY)")
    prior_lines: dict[str, Probability] = P(
        {"1": 0.02, "2": 0.545, "3": 0.29, "4": 0.135, "5": 0.01},
        "probability",
        "Screened distribution of prior chemotherapy lines; among eligible 2 vs 3-4 gives 56 %/44 % "
        "(ESMO Asia 2023 LBA4); 1 and 5 lines are screen failures (assumption)",
    )
    p_visceral: Probability = P(0.70, "probability", "Assumption: visceral metastasis in 70 % (not published)")
    p_liver_metastases: Probability = P(0.45, "probability", "Assumption: liver metastases in 45 %")
    p_prior_cdk46: Probability = P(
        0.50, "probability", "Assumption: about half pre-treated with a CDK4/6 inhibitor (META: lower than TROPiCS-02)"
    )
    ecog_probs: dict[str, Probability] = P(
        {"0": 0.45, "1": 0.55},
        "probability",
        "Assumption: ECOG 0 vs 1 at baseline (EVER-132-002 value not public; ECOG <= 1 is usual for this setting)",
    )
    p_ugt1a1_28_homozygous: Probability = P(
        0.03, "probability", "Assumption: UGT1A1*28/*28 about 3 % in East Asian populations"
    )
    weight_kg: dict[str, tuple[float, float]] = P(
        {"China": (58.0, 9.0), "South Korea": (57.0, 8.5), "Taiwan": (59.0, 9.5)},
        "kg (mean, sd)",
        "Assumption: adult female weight by country",
    )
    height_cm: dict[str, tuple[float, float]] = P(
        {"China": (158.0, 5.5), "South Korea": (159.0, 5.5), "Taiwan": (158.5, 5.5)},
        "cm (mean, sd)",
        "Assumption: adult female height by country",
    )
    anc_median: PositiveFloat = P(3.6, "10^9/L", "Assumption: pretreated MBC baseline ANC (lognormal)")
    anc_gsd: PositiveFloat = P(1.45, "geometric sd", "Assumption")
    screen_failure_facts: dict[str, Probability] = P(
        {
            "hr_positive": 0.99,
            "her2_negative": 0.99,
            "prior_taxane": 0.985,
            "prior_endocrine_therapy": 0.99,
            "tpc_eligible": 0.99,
            "progression_after_last_therapy": 0.985,
            "measurable_disease": 0.965,
            "brain_metastases": 0.03,
            "active_second_malignancy_3y": 0.01,
            "active_hbv": 0.015,
            "active_hcv": 0.005,
            "serious_infection_antibiotics_7d": 0.01,
            "confounding_condition": 0.01,
            "hypersensitivity_to_study_treatment": 0.005,
            "bone_only_disease": 0.01,
            "pregnant": 0.0,
            "lactating": 0.0,
        },
        "probability that the fact is true",
        "Assumption: chosen so that about 25 % of screened patients fail screening (facts file section 9 "
        "default) with realistic reasons; lab failures come from the lab distributions",
    )


class Treatment(_Block):
    tpc_split: dict[str, Probability] = P(
        {"eribulin": 0.45, "capecitabine": 0.2, "gemcitabine": 0.2, "vinorelbine": 0.15},
        "probability",
        "Assumption: physician's-choice split (not published for EVER-132-002)",
    )


#: Hazard pieces of the latent progression time end at the scans of weeks 12, 18, 24 and 36 (months): observed
#: progression can only change at scans, so these are the points the published landmarks constrain.
SCAN_CUTS = (2.76, 4.14, 5.52, 8.28)


class ArmOutcome(_Block):
    """Latent disease course of one arm (months), realised through tumour measurements and RECIST."""

    progression_hazards: tuple[PositiveFloat, ...] = P(
        (0.13, 0.2, 0.17), "per month", "Piecewise-constant hazard of true progression (calibrated)"
    )
    progression_cuts: tuple[PositiveFloat, ...] = P((2.0, 6.0), "months", "Start of each hazard piece after the first")
    p_response: Probability = P(0.25, "probability", "Probability of tumour shrinkage of >= 30 % (calibrated)")
    post_progression_median: PositiveFloat = P(11.0, "months", "Median survival after progression (calibrated to OS)")
    investigator_late: Probability = P(
        0.0,
        "probability",
        "Share of patients whose investigator sees progression one scan later than BICR (open-label reading)",
    )
    pre_progression_death_rate: PositiveFloat = P(0.008, "per month", "Assumption: death without progression")
    withdrawal_rate: PositiveFloat = P(0.004, "per month", "Assumption: consent withdrawal / lost to follow-up")


class Tumour(_Block):
    n_targets_probs: dict[str, Probability] = P(
        {"1": 0.15, "2": 0.3, "3": 0.27, "4": 0.17, "5": 0.11},
        "probability",
        "Assumption: number of target lesions at baseline",
    )
    diameter_median_mm: PositiveFloat = P(24.0, "mm", "Assumption: median target lesion longest diameter")
    diameter_gsd: PositiveFloat = P(1.5, "geometric sd", "Assumption")
    measurement_cv: PositiveFloat = P(0.06, "coefficient of variation", "Assumption: radiologist measurement error")
    investigator_lag_months: PositiveFloat = P(
        1.4, "months", "Delay of a late investigator read of progression (one 6-week scan)"
    )
    p_progression_by_new_lesion: Probability = P(
        0.45, "probability", "Assumption: share of progressions seen first as a new lesion"
    )


class Neutrophils(_Block):
    """ANC nadir model: nadir = pre-dose ANC × exp(−depth), depth lognormal per drug."""

    depth_median: dict[str, PositiveFloat] = P(
        {
            "sacituzumab govitecan": 1.38,
            "eribulin": 1.46,
            "capecitabine": 0.88,
            "gemcitabine": 1.24,
            "vinorelbine": 1.39,
        },
        "log-fold fall at nadir",
        "Fitted: grade >= 3 neutropenia 69 % (SG) vs 62 % (TPC), ESMO Asia 2023 LBA4; relative depths of the "
        "comparators are assumptions",
    )
    depth_gsd: PositiveFloat = P(1.45, "geometric sd", "Assumption: between-patient variability")
    ugt1a1_multiplier: PositiveFloat = P(
        1.3, "ratio", "Assumption: deeper nadir for UGT1A1*28 homozygous on SG (Trodelvy PI section 8.7)"
    )
    recovery_fraction: Probability = P(0.8, "fraction", "Fraction of the fall recovered by the next dosing day")
    p_fever_given_g4: Probability = P(0.12, "probability", "Assumption: febrile neutropenia when ANC < 0.5")


class OtherToxicity(_Block):
    """Per-cycle probabilities of grade >= 3 diarrhoea, nausea, vomiting by drug (label pooled rates)."""

    diarrhoea_g3: dict[str, Probability] = P(
        {
            "sacituzumab govitecan": 0.03,
            "eribulin": 0.003,
            "capecitabine": 0.015,
            "gemcitabine": 0.003,
            "vinorelbine": 0.003,
        },
        "per cycle",
        "Assumption from label rates (SG grade 3-4 diarrhoea 11 % over ~4 cycles)",
    )
    nausea_g3: dict[str, Probability] = P(
        {
            "sacituzumab govitecan": 0.01,
            "eribulin": 0.003,
            "capecitabine": 0.003,
            "gemcitabine": 0.003,
            "vinorelbine": 0.003,
        },
        "per cycle",
        "Assumption",
    )
    p_uncontrolled: Probability = P(
        0.5, "probability", "Assumption: grade 3 GI toxicity not controlled by supportive care"
    )


class Cut(_Block):
    target_events: int | None = P(
        232, "events", "PFS-BICR events at the primary analysis (derived, facts file 2.2)", gt=0
    )
    date: dt.date | None = P(None, "date", "Cut at this date instead of an event count")
    os_target_events: int | None = P(
        156,
        "deaths",
        "Deaths at the overall-survival analysis (derived from the OS HR CI width, facts file 2.2); the published OS "
        "figures come from this later cut",
        gt=0,
    )


class Scenario(_Block):
    """All assumptions of a twin run for one study."""

    id: str = P("default", "-", "Scenario name")
    study: str = P("ever-132-002", "-", "Protocol id the scenario is written for")
    accrual: Accrual = Accrual()
    population: Population = Population()
    treatment: Treatment = Treatment()
    outcomes: dict[str, ArmOutcome] = P(
        {
            "sg": ArmOutcome(
                progression_hazards=(0.077, 0.298, 0.070, 0.093, 0.084),
                progression_cuts=SCAN_CUTS,
                p_response=0.31,
                post_progression_median=15.0,
                investigator_late=0.6,
            ),
            "tpc": ArmOutcome(
                progression_hazards=(0.158, 0.219, 0.454, 0.217, 0.042),
                progression_cuts=SCAN_CUTS,
                p_response=0.33,
                post_progression_median=10.4,
                investigator_late=0.12,
            ),
        },
        "-",
        "Per-arm latent disease course, fitted (fixed-point iteration over twin runs with full follow-up) to PFS "
        "medians 4.3/4.2, PFS 6/9/12-month rates (NATMED, MIMSREP), ORR 21 %/15 % (ESMOA23) and OS medians "
        "21.0/15.3 (NATMED); the early landmarks (3 and 4.6 months) are assumptions chosen to match HR 0.67; "
        "investigator_late fitted to PFS by investigator (HR 0.61, 6-month 50 % vs 26 %, ESMOA23)",
    )
    tumour: Tumour = Tumour()
    neutrophils: Neutrophils = Neutrophils()
    other_toxicity: OtherToxicity = OtherToxicity()
    cut: Cut = Cut()

    @model_validator(mode="after")
    def _distributions(self) -> Scenario:
        checks = {
            "population.prior_lines": self.population.prior_lines,
            "treatment.tpc_split": self.treatment.tpc_split,
            "tumour.n_targets_probs": self.tumour.n_targets_probs,
            "population.ecog_probs": self.population.ecog_probs,
        }
        for name, probs in checks.items():
            total = sum(probs.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"{name}: probabilities sum to {total:.4f}, not 1")
        if self.population.age_min >= self.population.age_max:
            raise ValueError("population.age_min must be below population.age_max")
        for arm, outcome in self.outcomes.items():
            if len(outcome.progression_hazards) != len(outcome.progression_cuts) + 1:
                raise ValueError(f"outcomes.{arm}: progression_hazards needs one more value than progression_cuts")
            if list(outcome.progression_cuts) != sorted(set(outcome.progression_cuts)):
                raise ValueError(f"outcomes.{arm}.progression_cuts must increase")
        if self.cut.target_events is None and self.cut.date is None:
            raise ValueError("cut: give target_events or date")
        return self

    def check_against(self, protocol: Protocol) -> None:
        """Raise ScenarioError when the scenario does not fit ``protocol`` (study id, arms, drugs, countries)."""
        problems = []
        if self.study != protocol.id:
            problems.append(f"study: scenario is for {self.study!r}, not {protocol.id!r}")
        arms = {a.id for a in protocol.arms}
        if set(self.outcomes) != arms:
            problems.append(f"outcomes: arms {sorted(self.outcomes)} do not match the protocol's {sorted(arms)}")
        drugs = {r.drug for r in protocol.regimens}
        for arm in protocol.arms:
            if arm.regimen_choice == "one_of":
                options = {r.drug for r in protocol.arm_regimens(arm)}
                if set(self.treatment.tpc_split) != options:
                    problems.append(
                        f"treatment.tpc_split: drugs {sorted(self.treatment.tpc_split)} do not match "
                        f"arm {arm.id!r} ({sorted(options)})"
                    )
        for field, table in (
            ("neutrophils.depth_median", self.neutrophils.depth_median),
            ("other_toxicity.diarrhoea_g3", self.other_toxicity.diarrhoea_g3),
        ):
            missing = sorted(drugs - set(table))
            if missing:
                problems.append(f"{field}: no value for drug(s) {missing}")
        if not protocol.sites:
            if not self.accrual.virtual_sites:
                problems.append("accrual.virtual_sites: the protocol lists no sites, so give virtual sites per country")
            unknown_c = sorted(set(self.accrual.virtual_sites) - set(protocol.countries))
            if unknown_c:
                problems.append(f"accrual.virtual_sites: countries {unknown_c} are not among the protocol's countries")
            if any(n < 1 for n in self.accrual.virtual_sites.values()):
                problems.append("accrual.virtual_sites: each country needs at least one site")
        countries = {s.country for s in protocol.sites} or set(self.accrual.virtual_sites)
        for field, table2 in (
            ("accrual.country_rate", self.accrual.country_rate),
            ("population.weight_kg", self.population.weight_kg),
            ("population.height_cm", self.population.height_cm),
        ):
            missing = sorted(countries - set(table2))
            if missing:
                problems.append(f"{field}: no value for country(ies) {missing}")
        facts = protocol.eligibility.fact_map()
        unknown = sorted(set(self.population.screen_failure_facts) - set(facts))
        if unknown:
            problems.append(f"population.screen_failure_facts: facts {unknown} are not declared by the protocol")
        if problems:
            raise ScenarioError(f"scenario {self.id!r} does not fit study {protocol.id!r}:\n  " + "\n  ".join(problems))


def describe_parameters(model: BaseModel, prefix: str = "", context: str = "") -> Iterator[tuple[str, Any, str, str]]:
    """``(name, value, unit, note)`` for every parameter of a scenario, depth first. Parameters inside a
    per-arm block carry the block's note after their own."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        note = str(extra.get("note", ""))
        if isinstance(value, BaseModel):
            yield from describe_parameters(value, f"{path}.", context)
            continue
        if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for key, sub in value.items():
                yield from describe_parameters(sub, f"{path}.{key}.", note)
            continue
        full = f"{note}. {context}" if context else note
        yield path, value, str(extra.get("unit", "")), full
