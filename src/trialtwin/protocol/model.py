"""The protocol: what a trial is, as validated, immutable data.

Nouns follow ClinicalTrials.gov API v2 (and CDISC USDM where the registry has no word): identification,
status, sponsor, design, arms, interventions, eligibility, locations, references. What the registry keeps as
prose is made computable here: regimens (dose, unit, days, cycle, reduction ladder, stop rules), eligibility
rules over typed facts, stratification, randomization, endpoints, the tumour-assessment calendar.

Every value the public record does not give carries ``assumption: true`` and a ``reason`` saying where the
default came from, so a reader can tell registry facts from modelling choices.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from trialtwin.protocol.rules import (
    Comparison,
    FactDefinition,
    Frozen,
    Rule,
    check_comparison,
    iter_comparisons,
)
from trialtwin.protocol.units import DoseUnit, FactUnit

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]
NctId = Annotated[str, Field(pattern=r"^NCT\d{8}$")]
Text = Annotated[str, Field(min_length=1)]

#: Joins a field path and its message inside a cross-field validation error (split again by protocol.io).
PATH_SEPARATOR = " :: "


class Assumable(Frozen):
    """Mixin: a value that may be a modelling assumption rather than a registry fact."""

    assumption: bool = False
    reason: str | None = None

    @model_validator(mode="after")
    def _reason_for_assumption(self) -> Assumable:
        if self.assumption and not self.reason:
            raise ValueError("assumption: true needs a reason saying where the default came from")
        return self


def _duplicates(values: Iterable[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


# --------------------------------------------------------------------------------------------------------------
# Identification, status, sponsor (ClinicalTrials.gov identificationModule, statusModule, sponsor module)


class SecondaryId(Frozen):
    """Another identifier of the study (ClinicalTrials.gov ``secondaryIdInfos``)."""

    id: Text
    type: str | None = None  # e.g. REGISTRY, OTHER_GRANT, EUDRACT_NUMBER
    domain: str | None = None  # issuing registry or organisation


class Identification(Frozen):
    nct_id: NctId
    org_study_id: Text
    secondary_ids: tuple[SecondaryId, ...] = ()
    acronym: str | None = None
    brief_title: Text
    official_title: str | None = None


class DateType(StrEnum):
    ACTUAL = "ACTUAL"
    ESTIMATED = "ESTIMATED"


class StudyDate(Frozen):
    date: dt.date
    type: DateType


class Status(Assumable):
    overall_status: Text  # ClinicalTrials.gov OverallStatus, e.g. ACTIVE_NOT_RECRUITING
    study_type: Literal["INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS"]
    phases: tuple[str, ...]
    start: StudyDate
    primary_completion: StudyDate | None = None
    completion: StudyDate | None = None
    last_update: dt.date | None = None


class Organization(Frozen):
    name: Text
    class_: Annotated[str | None, Field(alias="class")] = None  # INDUSTRY, NIH, OTHER, ...


class Official(Frozen):
    name: Text
    role: Text  # STUDY_DIRECTOR, PRINCIPAL_INVESTIGATOR, STUDY_CHAIR
    affiliation: str | None = None


class Sponsorship(Frozen):
    lead_sponsor: Organization
    collaborators: tuple[Organization, ...] = ()
    responsible_party: str | None = None  # SPONSOR, PRINCIPAL_INVESTIGATOR, SPONSOR_INVESTIGATOR
    officials: tuple[Official, ...] = ()


class Description(Frozen):
    brief_summary: str | None = None
    detailed_description: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Design, enrollment


class Design(Frozen):
    allocation: Literal["RANDOMIZED", "NON_RANDOMIZED", "NA"]
    intervention_model: Text  # PARALLEL, CROSSOVER, SINGLE_GROUP, ...
    primary_purpose: Text  # TREATMENT, ...
    masking: Literal["NONE", "SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE"]


class Enrollment(Frozen):
    count: PositiveInt
    type: DateType  # ACTUAL or ESTIMATED, as ClinicalTrials.gov enrollmentInfo


# --------------------------------------------------------------------------------------------------------------
# Arms, interventions, regimens


class ArmType(StrEnum):
    EXPERIMENTAL = "EXPERIMENTAL"
    ACTIVE_COMPARATOR = "ACTIVE_COMPARATOR"
    PLACEBO_COMPARATOR = "PLACEBO_COMPARATOR"
    SHAM_COMPARATOR = "SHAM_COMPARATOR"
    NO_INTERVENTION = "NO_INTERVENTION"
    OTHER = "OTHER"


class Arm(Frozen):
    """An arm group. ``regimen_choice``: ``all`` regimens are given, or ``one_of`` them per patient
    (treatment of physician's choice)."""

    id: Id
    label: Text
    type: ArmType
    description: str | None = None
    intervention_names: tuple[Text, ...]
    regimens: tuple[Id, ...] = ()
    regimen_choice: Literal["all", "one_of"] = "all"


class Intervention(Frozen):
    type: Text  # DRUG, BIOLOGICAL, ...
    name: Text
    other_names: tuple[str, ...] = ()
    description: str | None = None
    arm_labels: tuple[Text, ...]


class Route(StrEnum):
    IV = "IV"
    PO = "PO"
    SC = "SC"


class DoseRange(Frozen):
    """The range a registry allows for a starting dose (e.g. capecitabine 1000–1250 mg/m²)."""

    min: PositiveFloat
    max: PositiveFloat

    @model_validator(mode="after")
    def _ordered(self) -> DoseRange:
        if self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}")
        return self


class DoseVariant(Frozen):
    """The same dose stated for another salt or base (eribulin mesylate 1.4 mg/m² = eribulin 1.23 mg/m²)."""

    amount: PositiveFloat
    unit: DoseUnit
    substance: Text
    note: str | None = None


class Dose(Frozen):
    """A starting dose. ``times_per_day`` 2 means "twice daily" (the amount is per administration)."""

    amount: PositiveFloat
    unit: DoseUnit
    substance: Text
    range: DoseRange | None = None
    times_per_day: Annotated[int, Field(ge=1, le=4)] = 1
    variants: tuple[DoseVariant, ...] = ()

    @model_validator(mode="after")
    def _within_range(self) -> Dose:
        if self.range and not (self.range.min <= self.amount <= self.range.max):
            raise ValueError(
                f"dose {self.amount} {self.unit} is outside its allowed range "
                f"{self.range.min}–{self.range.max} {self.unit}"
            )
        return self


class DoseLevel(Frozen):
    """One rung of a dose-reduction ladder: level 0 is the starting dose, -1 the first reduction, ...
    Either an absolute ``amount`` (in the regimen's dose unit) or a ``percent`` of the starting dose."""

    level: Annotated[int, Field(le=0)]
    amount: PositiveFloat | None = None
    percent: Annotated[float, Field(gt=0, le=100)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DoseLevel:
        if (self.amount is None) == (self.percent is None):
            raise ValueError("a dose level gives exactly one of amount or percent")
        return self


class StopRule(StrEnum):
    PROGRESSION = "progression"
    UNACCEPTABLE_TOXICITY = "unacceptable_toxicity"
    WITHDRAWAL_OF_CONSENT = "withdrawal_of_consent"
    INVESTIGATOR_DECISION = "investigator_decision"
    DEATH = "death"


class Regimen(Assumable):
    """A drug given on a cycle: computable dose, route, days, cycle length, reduction ladder, stop rules.

    ``dosing_days`` are days of the cycle (day 1 = first day); ``cycle_length_days`` 7 is weekly dosing.
    ``source`` cites the label or publication the rules come from.
    """

    id: Id
    label: Text
    intervention: Text
    drug: Text
    dose: Dose
    route: Route
    dosing_days: Annotated[tuple[PositiveInt, ...], Field(min_length=1)]
    cycle_length_days: PositiveInt
    dose_levels: tuple[DoseLevel, ...] = ()
    below_lowest_level: Literal["discontinue"] = "discontinue"
    re_escalation: bool = False
    stop_rules: tuple[StopRule, ...] = (
        StopRule.PROGRESSION,
        StopRule.UNACCEPTABLE_TOXICITY,
        StopRule.WITHDRAWAL_OF_CONSENT,
    )
    source: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Regimen:
        days = self.dosing_days
        if list(days) != sorted(set(days)):
            raise ValueError(f"dosing_days {list(days)} must be increasing without repeats")
        if days[-1] > self.cycle_length_days:
            raise ValueError(f"dosing day {days[-1]} is beyond the {self.cycle_length_days}-day cycle")
        levels = [lv.level for lv in self.dose_levels]
        if levels and levels != list(range(0, -len(levels), -1)):
            raise ValueError(f"dose_levels must be numbered 0, -1, -2, ... in order (got {levels})")
        amounts = [self.level_amount(lv.level) for lv in self.dose_levels]
        if any(b >= a for a, b in pairwise(amounts)):
            raise ValueError(f"dose_levels must decrease (got {amounts} {self.dose.unit})")
        if self.dose_levels and abs(amounts[0] - self.dose.amount) > 1e-9:
            raise ValueError(f"dose level 0 ({amounts[0]}) must equal the starting dose ({self.dose.amount})")
        return self

    def level_amount(self, level: int, start: float | None = None) -> float:
        """Dose amount (regimen unit) at a ladder level, relative to ``start`` (default: the starting dose)."""
        base = self.dose.amount if start is None else start
        if level == 0 and not self.dose_levels:
            return base
        for lv in self.dose_levels:
            if lv.level == level:
                if lv.percent is not None:
                    return base * lv.percent / 100.0
                assert lv.amount is not None
                return lv.amount if start is None else lv.amount * base / self.dose.amount
        raise KeyError(f"regimen {self.id!r} has no dose level {level}")

    @property
    def lowest_level(self) -> int:
        return -(len(self.dose_levels) - 1) if self.dose_levels else 0


# --------------------------------------------------------------------------------------------------------------
# Eligibility


class CriterionKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class Criterion(Assumable):
    """One eligibility criterion: the registry's verbatim text and, where possible, a computable rule.

    The rule states the criterion itself: for an inclusion criterion it must hold, for an exclusion
    criterion it must not. ``rule: null`` keeps the criterion as text only ("not computable").
    """

    id: Id
    kind: CriterionKind
    text: Text
    rule: Rule | None = None


class Age(Frozen):
    value: PositiveInt
    unit: Literal["years", "months", "weeks", "days"] = "years"

    def text(self) -> str:
        return f"{self.value} {self.unit.capitalize()}"


class Eligibility(Frozen):
    """Structured eligibility (ClinicalTrials.gov eligibilityModule) plus computable criteria."""

    minimum_age: Age | None = None
    maximum_age: Age | None = None
    sex: Literal["ALL", "FEMALE", "MALE"] = "ALL"
    healthy_volunteers: bool = False
    facts: tuple[FactDefinition, ...] = ()
    criteria: tuple[Criterion, ...] = ()

    def fact_map(self) -> dict[str, FactDefinition]:
        return {f.name: f for f in self.facts}

    def registry_rules(self) -> tuple[Criterion, ...]:
        """Criteria implied by the structured fields (minimum/maximum age, sex, healthy volunteers),
        expressed as rules over the facts ``age``, ``sex`` and ``healthy_volunteer``."""
        out: list[Criterion] = []
        if self.minimum_age is not None:
            rule = Comparison(fact="age", op=">=", value=self.minimum_age.value, unit=FactUnit.YEARS)
            out.append(Criterion(id="AGE-MIN", kind=CriterionKind.INCLUSION, text=self.minimum_age.text(), rule=rule))
        if self.maximum_age is not None:
            rule = Comparison(fact="age", op="<=", value=self.maximum_age.value, unit=FactUnit.YEARS)
            out.append(Criterion(id="AGE-MAX", kind=CriterionKind.INCLUSION, text=self.maximum_age.text(), rule=rule))
        if self.sex != "ALL":
            rule = Comparison(fact="sex", op="==", value=self.sex.lower())
            out.append(Criterion(id="SEX", kind=CriterionKind.INCLUSION, text=f"Sex: {self.sex}", rule=rule))
        if not self.healthy_volunteers:
            rule = Comparison(fact="healthy_volunteer", op="==", value=False)
            out.append(
                Criterion(id="HV", kind=CriterionKind.INCLUSION, text="Accepts healthy volunteers: No", rule=rule)
            )
        return tuple(out)

    def all_criteria(self) -> tuple[Criterion, ...]:
        """Registry criteria (age, sex, healthy volunteers) followed by the protocol's own."""
        return self.registry_rules() + self.criteria


# --------------------------------------------------------------------------------------------------------------
# Stratification and randomization


class StratumLevel(Frozen):
    """A level of a stratification factor; ``rule`` derives it from patient facts."""

    code: Id
    label: Text
    rule: Rule | None = None


class StratificationFactor(Assumable):
    id: Id
    name: Text
    levels: Annotated[tuple[StratumLevel, ...], Field(min_length=2)]

    def level_codes(self) -> tuple[str, ...]:
        return tuple(lv.code for lv in self.levels)


class Minimization(Frozen):
    """Pocock–Simon minimisation settings: the preferred arm is taken with ``probability``."""

    probability: Annotated[float, Field(gt=0.5, le=1.0)] = 0.8
    imbalance: Literal["range", "variance"] = "range"
    weights: dict[str, PositiveFloat] = Field(default_factory=dict)


class RandomizationSpec(Assumable):
    """How subjects are allocated. ``ratio`` maps arm id → integer weight; every block size is a multiple
    of the ratio's sum."""

    method: Literal["permuted_block", "minimization"]
    ratio: dict[Id, PositiveInt]
    stratified_by: tuple[Id, ...] = ()
    block_sizes: tuple[PositiveInt, ...] = ()
    minimization: Minimization | None = None

    @model_validator(mode="after")
    def _check(self) -> RandomizationSpec:
        total = sum(self.ratio.values())
        if self.method == "permuted_block":
            if not self.block_sizes:
                raise ValueError("permuted_block randomization needs block_sizes")
            bad = [b for b in self.block_sizes if b % total]
            if bad:
                raise ValueError(f"block sizes {bad} are not multiples of the ratio total {total}")
        if len(self.ratio) < 2:
            raise ValueError("randomization needs at least two arms in its ratio")
        return self


# --------------------------------------------------------------------------------------------------------------
# Endpoints, response assessment, tumour-assessment calendar


class EndpointKind(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    EXPLORATORY = "exploratory"


class EndpointType(StrEnum):
    TIME_TO_EVENT = "time_to_event"
    PROPORTION = "proportion"
    DURATION = "duration"
    SAFETY = "safety"


class Endpoint(Assumable):
    """An endpoint with its definition. ``events`` (for time-to-event) name what ends the time;
    ``responses`` (for proportions) name the responses counted."""

    id: Id
    kind: EndpointKind
    type: EndpointType
    title: Text
    description: str | None = None
    time_frame: str | None = None
    assessor: Literal["BICR", "investigator"] | None = None
    criteria: Literal["RECIST 1.1", "CTCAE v5.0"] | None = None
    events: tuple[Literal["progression", "death"], ...] = ()
    responses: tuple[Literal["CR", "PR", "SD"], ...] = ()


class ResponseRules(Assumable):
    """Best-overall-response conventions (RECIST 1.1 §4.4): confirmation interval, SD minimum duration,
    and the minimum SD duration that counts towards clinical benefit."""

    confirmation_required: bool = True
    confirmation_min_days: PositiveInt = 28
    sd_min_days: PositiveInt = 35
    cbr_sd_min_days: PositiveInt = 182


class AssessmentPhase(Frozen):
    """Scans every ``every_weeks`` weeks (± ``window_days``) until ``until_week`` (None: until progression)."""

    every_weeks: PositiveInt
    until_week: PositiveInt | None = None
    window_days: Annotated[int, Field(ge=0)] = 7


class TumourAssessmentSchedule(Assumable):
    """Tumour-assessment calendar counted from randomization (RECIST 1.1 §3: baseline then regular scans)."""

    modality: tuple[Literal["CT", "MRI"], ...] = ("CT", "MRI")
    baseline_window_days: PositiveInt = 28
    phases: Annotated[tuple[AssessmentPhase, ...], Field(min_length=1)]
    continue_until: Literal["progression", "progression_by_bicr"] = "progression"

    @model_validator(mode="after")
    def _check(self) -> TumourAssessmentSchedule:
        for i, phase in enumerate(self.phases):
            last = i == len(self.phases) - 1
            if not last and phase.until_week is None:
                raise ValueError(f"phases[{i}] needs until_week: only the last phase runs until progression")
            if phase.until_week is not None and phase.until_week % phase.every_weeks:
                raise ValueError(
                    f"phases[{i}]: until_week {phase.until_week} is not a multiple of every {phase.every_weeks}"
                )
        return self

    def scan_weeks(self, max_week: int) -> list[int]:
        """Nominal weeks (from randomization) of the on-study scans up to ``max_week``."""
        weeks: list[int] = []
        week = 0
        for phase in self.phases:
            end = phase.until_week if phase.until_week is not None else max_week
            while week + phase.every_weeks <= min(end, max_week):
                week += phase.every_weeks
                weeks.append(week)
            if week >= max_week:
                break
        return weeks

    def window_for_week(self, week: int) -> int:
        """Window (± days) of the scan at ``week``."""
        for phase in self.phases:
            if phase.until_week is None or week <= phase.until_week:
                return phase.window_days
        return self.phases[-1].window_days


# --------------------------------------------------------------------------------------------------------------
# Locations, references, related trials, published results


class Site(Frozen):
    """A participating site with a stable id (country code + number in registry order)."""

    id: Id
    facility: Text
    city: Text
    state: str | None = None
    zip: str | None = None
    country: Text


class Reference(Frozen):
    citation: Text
    doi: str | None = None
    pmid: Annotated[str, Field(pattern=r"^\d+$")] | None = None
    type: Literal["BACKGROUND", "RESULT", "DERIVED"] | None = None


class Link(Frozen):
    label: Text
    url: Text


class RelatedTrial(Frozen):
    nct_id: NctId
    title: Text


class Statistic(StrEnum):
    COUNT = "count"
    MEDIAN = "median"
    RATE = "rate"
    PROPORTION = "proportion"
    HAZARD_RATIO = "hazard_ratio"
    ODDS_RATIO = "odds_ratio"


class PublishedValue(Frozen):
    """A published result, kept for comparison with simulated or real trials.

    ``endpoint`` (an endpoint id) and/or ``characteristic`` (a baseline item, or a term) say what it is;
    ``arm`` is None for effect measures and overall figures; ``at_months`` for landmark rates.
    ``status``: ``verified`` (read in the source) or ``derived`` (arithmetic on verified figures).
    """

    id: Id
    endpoint: Id | None = None
    characteristic: str | None = None
    statistic: Statistic
    arm: Id | None = None
    value: float
    ci: tuple[float, float] | None = None
    ci_level: float = 0.95
    p_value: Annotated[float, Field(ge=0, le=1)] | None = None
    unit: Literal["months", "years", "%", "ratio", "patients", "events"]
    at_months: PositiveFloat | None = None
    subgroup: dict[Id, Id] = Field(default_factory=dict)
    source: Text
    status: Literal["verified", "derived"] = "verified"

    @model_validator(mode="after")
    def _what(self) -> PublishedValue:
        if self.endpoint is None and self.characteristic is None:
            raise ValueError("a published value names an endpoint, a characteristic, or both")
        if self.ci is not None and not (self.ci[0] <= self.value <= self.ci[1]):
            raise ValueError(f"value {self.value} is outside its confidence interval {list(self.ci)}")
        return self


# --------------------------------------------------------------------------------------------------------------
# The protocol


class Protocol(Frozen):
    """A trial, whole: registry facts plus the computable rules the engine runs on."""

    schema_version: Literal["1"] = "1"
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")]
    identification: Identification
    status: Status
    sponsor: Sponsorship
    conditions: tuple[Text, ...] = ()
    keywords: tuple[Text, ...] = ()
    description: Description = Description()
    design: Design
    enrollment: Enrollment
    arms: Annotated[tuple[Arm, ...], Field(min_length=1)]
    interventions: tuple[Intervention, ...]
    regimens: tuple[Regimen, ...] = ()
    eligibility: Eligibility
    stratification: tuple[StratificationFactor, ...] = ()
    randomization: RandomizationSpec | None = None
    endpoints: tuple[Endpoint, ...] = ()
    response_rules: ResponseRules = ResponseRules()
    tumour_assessment: TumourAssessmentSchedule | None = None
    countries: tuple[Text, ...] = ()
    sites: tuple[Site, ...] = ()
    references: tuple[Reference, ...] = ()
    links: tuple[Link, ...] = ()
    related_trials: tuple[RelatedTrial, ...] = ()
    published_results: tuple[PublishedValue, ...] = ()

    # ---- look-ups -------------------------------------------------------------------------------------------

    def arm(self, key: str) -> Arm:
        """An arm by id or label (case-insensitive)."""
        for arm in self.arms:
            if key in (arm.id, arm.label) or key.casefold() in (arm.id.casefold(), arm.label.casefold()):
                return arm
        raise KeyError(f"no arm {key!r} in {self.id} (arms: {', '.join(a.label for a in self.arms)})")

    def regimen(self, key: str) -> Regimen:
        """A regimen by id, drug or label (case-insensitive)."""
        for reg in self.regimens:
            if key.casefold() in (reg.id.casefold(), reg.drug.casefold(), reg.label.casefold()):
                return reg
        raise KeyError(f"no regimen {key!r} in {self.id} (regimens: {', '.join(r.id for r in self.regimens)})")

    def arm_regimens(self, arm: Arm) -> tuple[Regimen, ...]:
        by_id = {r.id: r for r in self.regimens}
        return tuple(by_id[r] for r in arm.regimens)

    def factor(self, factor_id: str) -> StratificationFactor:
        for f in self.stratification:
            if f.id == factor_id:
                return f
        raise KeyError(f"no stratification factor {factor_id!r} in {self.id}")

    def assumptions(self) -> Iterator[tuple[str, str]]:
        """``(where, reason)`` for every value marked as a modelling assumption."""
        groups: list[tuple[str, Iterable[Assumable]]] = [
            ("regimen", self.regimens),
            ("criterion", self.eligibility.criteria),
            ("stratification", self.stratification),
            ("endpoint", self.endpoints),
        ]
        for label, items in groups:
            for item in items:
                if item.assumption:
                    yield f"{label} {getattr(item, 'id', '')}".strip(), item.reason or ""
        singles: tuple[tuple[str, Assumable | None], ...] = (
            ("status", self.status),
            ("randomization", self.randomization),
            ("response rules", self.response_rules),
            ("tumour assessment", self.tumour_assessment),
        )
        for label, single in singles:
            if single is not None and single.assumption:
                yield label, single.reason or ""

    # ---- cross-field validation -----------------------------------------------------------------------------

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        problems = [f"{path}{PATH_SEPARATOR}{message}" for path, message in self._problems()]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _problems(self) -> Iterator[tuple[str, str]]:
        """``(field path, message)`` for every cross-field inconsistency."""
        arm_ids = [a.id for a in self.arms]
        arm_labels = [a.label for a in self.arms]
        for field, what, values in (
            ("arms", "arm id", arm_ids),
            ("arms", "arm label", arm_labels),
            ("interventions", "intervention name", [i.name for i in self.interventions]),
            ("regimens", "regimen id", [r.id for r in self.regimens]),
            ("sites", "site id", [s.id for s in self.sites]),
            ("eligibility.criteria", "criterion id", [c.id for c in self.eligibility.all_criteria()]),
            ("eligibility.facts", "fact name", [f.name for f in self.eligibility.facts]),
            ("stratification", "stratification factor id", [f.id for f in self.stratification]),
            ("endpoints", "endpoint id", [e.id for e in self.endpoints]),
            ("published_results", "published value id", [p.id for p in self.published_results]),
        ):
            for dup in _duplicates(values):
                second = [i for i, v in enumerate(values) if v == dup][1]
                yield f"{field}[{second}]", f"duplicate {what} {dup!r}"

        interventions = {i.name: i for i in self.interventions}
        regimens = {r.id: r for r in self.regimens}
        for a, arm in enumerate(self.arms):
            for name in arm.intervention_names:
                if name not in interventions:
                    yield f"arms[{a}].intervention_names", f"unknown intervention {name!r}"
                elif arm.label not in interventions[name].arm_labels:
                    yield (
                        f"arms[{a}].intervention_names",
                        (f"intervention {name!r} does not list arm {arm.label!r} in its arm_labels"),
                    )
            for reg_id in arm.regimens:
                if reg_id not in regimens:
                    yield f"arms[{a}].regimens", f"unknown regimen {reg_id!r}"
                elif regimens[reg_id].intervention not in arm.intervention_names:
                    yield (
                        f"arms[{a}].regimens",
                        (
                            f"regimen {reg_id!r} gives intervention {regimens[reg_id].intervention!r}, "
                            "which the arm does not list"
                        ),
                    )
            if arm.regimen_choice == "one_of" and len(arm.regimens) < 2:
                yield f"arms[{a}].regimen_choice", "one_of needs at least two regimens"
        for i, iv in enumerate(self.interventions):
            for label in iv.arm_labels:
                if label not in arm_labels:
                    yield f"interventions[{i}].arm_labels", f"unknown arm {label!r}"
        for r, reg in enumerate(self.regimens):
            if reg.intervention not in interventions:
                yield f"regimens[{r}].intervention", f"unknown intervention {reg.intervention!r}"

        facts = self.eligibility.fact_map()
        n_registry = len(self.eligibility.registry_rules())
        rules: list[tuple[str, Rule]] = [
            (f"eligibility.criteria[{c - n_registry}].rule", crit.rule)
            for c, crit in enumerate(self.eligibility.all_criteria())
            if crit.rule is not None and c >= n_registry
        ]
        for f, factor in enumerate(self.stratification):
            for dup in _duplicates(factor.level_codes()):
                yield f"stratification[{f}].levels", f"level {dup!r} is declared twice"
            rules += [
                (f"stratification[{f}].levels[{i}].rule", lv.rule)
                for i, lv in enumerate(factor.levels)
                if lv.rule is not None
            ]
        for where, rule in rules:
            for comparison in iter_comparisons(rule):
                problem = check_comparison(comparison, facts)
                if problem:
                    yield where, problem
        has_age_limit = self.eligibility.minimum_age is not None or self.eligibility.maximum_age is not None
        if has_age_limit and "age" not in facts:
            yield (
                "eligibility.facts",
                "an age limit is set, so a fact 'age' (number, years) must be declared",
            )
        if self.eligibility.sex != "ALL" and "sex" not in facts:
            yield (
                "eligibility.facts",
                "sex is restricted, so a fact 'sex' (enum female/male) must be declared",
            )
        if not self.eligibility.healthy_volunteers and "healthy_volunteer" not in facts:
            yield (
                "eligibility.facts",
                "healthy volunteers are excluded, so a boolean fact 'healthy_volunteer' is needed",
            )

        factors = {f.id: f for f in self.stratification}
        if self.randomization is not None:
            for arm_id in self.randomization.ratio:
                if arm_id not in arm_ids:
                    yield "randomization.ratio", f"unknown arm {arm_id!r} (arms: {arm_ids})"
            for factor_id in self.randomization.stratified_by:
                if factor_id not in factors:
                    yield "randomization.stratified_by", f"undeclared stratification factor {factor_id!r}"
            if self.randomization.minimization:
                for factor_id in self.randomization.minimization.weights:
                    if factor_id not in factors:
                        yield "randomization.minimization.weights", f"undeclared factor {factor_id!r}"

        endpoint_ids = {e.id for e in self.endpoints}
        for i, pv in enumerate(self.published_results):
            where = f"published_results[{i}]"
            if pv.endpoint is not None and pv.endpoint not in endpoint_ids:
                yield f"{where}.endpoint", f"unknown endpoint {pv.endpoint!r}"
            if pv.arm is not None and pv.arm not in arm_ids:
                yield f"{where}.arm", f"unknown arm {pv.arm!r}"
            for factor_id, level in pv.subgroup.items():
                if factor_id not in factors:
                    yield f"{where}.subgroup", f"undeclared stratification factor {factor_id!r}"
                elif level not in factors[factor_id].level_codes():
                    yield (
                        f"{where}.subgroup.{factor_id}",
                        (
                            f"stratum level {level!r} is not declared "
                            f"(levels of {factor_id!r}: {list(factors[factor_id].level_codes())})"
                        ),
                    )

        if self.countries:
            for i, site in enumerate(self.sites):
                if site.country not in self.countries:
                    yield f"sites[{i}].country", f"{site.country!r} is not among the protocol's countries"
