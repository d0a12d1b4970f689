"""Eligibility: apply a protocol's inclusion and exclusion criteria to one patient's facts.

Each criterion's rule states the criterion itself (``trialtwin.protocol.model.Criterion``):

* an **inclusion** criterion is *met* when its rule is true; it must be met;
* an **exclusion** criterion is *met* when its rule is true, i.e. the patient **has** the excluding condition.

A rule may also be unknown (a fact it needs is missing; Kleene logic, see :mod:`trialtwin.engine.rules`).
The verdict (a subject is enrolled only when every criterion allows it):

1. ``not_eligible`` if any inclusion criterion is not met or any exclusion criterion is met;
2. otherwise ``incomplete`` if any criterion is unknown;
3. otherwise ``eligible``.

So a patient who fails a criterion is "not eligible" even when other facts are missing. Criteria kept as
text only (``rule: null``) are unknown, with reason "not computable: needs investigator judgement", unless
the facts carry the investigator's judgement under ``criteria_overrides`` (``{"I4": true}``: the criterion's
condition holds). The criteria are ``protocol.eligibility.all_criteria()``: the registry's age, sex and
healthy-volunteer rules first, then the protocol's own in file order.

The rules are compiled once per protocol (cached by object identity); reasons are built only when read,
so :func:`evaluate_eligibility` stays cheap enough to screen every virtual patient of a twin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trialtwin.engine.facts import CRITERIA_OVERRIDES, fact_validator
from trialtwin.engine.rules import CompiledRule, Evaluator, Facts, PerObjectCache, Tri, compile_rule
from trialtwin.protocol.model import Criterion, CriterionKind, Protocol

NOT_COMPUTABLE = "not computable: needs investigator judgement"


class CriterionOutcome(StrEnum):
    """Whether a criterion's statement holds for the patient (for an exclusion: the patient has it)."""

    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class EligibilityStatus(StrEnum):
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    INCOMPLETE = "incomplete"


_OUTCOME = {True: CriterionOutcome.MET, False: CriterionOutcome.NOT_MET, None: CriterionOutcome.UNKNOWN}


@dataclass(frozen=True, slots=True)
class CompiledCriterion:
    """A criterion with its rule compiled (``None`` when it has no computable rule)."""

    criterion: Criterion
    rule: CompiledRule | None

    @property
    def id(self) -> str:
        return self.criterion.id

    @property
    def kind(self) -> CriterionKind:
        return self.criterion.kind

    def reason(self, facts: Facts, outcome: CriterionOutcome) -> str:
        """Why the criterion has this outcome for these facts, in words."""
        if self.rule is None:
            overrides = facts.get(CRITERIA_OVERRIDES) or {}
            judged = overrides.get(self.id)
            if judged is None:
                return NOT_COMPUTABLE
            return "investigator judgement: " + ("condition holds" if judged else "condition does not hold")
        return self.rule.explain(facts)

    def missing_facts(self, facts: Facts) -> tuple[str, ...]:
        return self.rule.missing_facts(facts) if self.rule is not None else ()


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One criterion's outcome. ``reason`` is computed on first read from the facts it was evaluated on."""

    id: str
    kind: CriterionKind
    result: CriterionOutcome
    text: str
    _source: CompiledCriterion = field(repr=False, compare=False)
    _facts: Facts = field(repr=False, compare=False)

    @property
    def reason(self) -> str:
        """E.g. ``Absolute neutrophil count 1.2×10⁹/L below 1.5×10⁹/L``, or the missing facts."""
        return self._source.reason(self._facts, self.result)

    @property
    def missing_facts(self) -> tuple[str, ...]:
        """Names of the missing facts that make this criterion unknown."""
        return self._source.missing_facts(self._facts)

    @property
    def excludes(self) -> bool:
        """True when this outcome alone makes the patient not eligible."""
        if self.kind is CriterionKind.INCLUSION:
            return self.result is CriterionOutcome.NOT_MET
        return self.result is CriterionOutcome.MET

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind.value, "result": self.result.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    """The verdict and one outcome per criterion, in protocol order.

    ``outcomes`` is the cheap summary the twin counts; :attr:`criteria` builds the per-criterion results
    (with their reasons) when read.
    """

    status: EligibilityStatus
    outcomes: tuple[CriterionOutcome, ...]
    _source: CompiledEligibility = field(repr=False, compare=False)
    _facts: Facts = field(repr=False, compare=False)

    @property
    def eligible(self) -> bool:
        return self.status is EligibilityStatus.ELIGIBLE

    @property
    def criteria(self) -> tuple[CriterionResult, ...]:
        """One result per criterion (id, kind, outcome, verbatim text, reason), in protocol order."""
        facts = self._facts
        return tuple(
            CriterionResult(cc.id, cc.kind, outcome, cc.criterion.text, cc, facts)
            for cc, outcome in zip(self._source.criteria, self.outcomes, strict=True)
        )

    def failed(self) -> tuple[CriterionResult, ...]:
        """Criteria that make the patient not eligible (inclusion not met, exclusion met)."""
        return tuple(c for c in self.criteria if c.excludes)

    def unknown(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.result is CriterionOutcome.UNKNOWN)

    def missing_facts(self) -> tuple[str, ...]:
        """Every missing fact an unknown criterion needs, in criterion order, without repeats."""
        out: dict[str, None] = {}
        for c in self.unknown():
            out.update(dict.fromkeys(c.missing_facts))
        return tuple(out)

    def result(self, criterion_id: str) -> CriterionResult:
        """The result of one criterion by id (KeyError listing the ids)."""
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(f"no criterion {criterion_id!r} (criteria: {', '.join(c.id for c in self.criteria)})")

    def to_dict(self) -> dict[str, Any]:
        """``{"eligible", "status", "criteria": [{"id", "kind", "result", "reason"}]}`` (the CLI's JSON)."""
        return {
            "eligible": self.eligible,
            "status": self.status.value,
            "criteria": [c.to_dict() for c in self.criteria],
        }


def _judgement(criterion_id: str) -> Evaluator:
    """A criterion without a rule: the investigator's judgement from ``criteria_overrides``, else unknown."""

    def judged(facts: Facts) -> Tri:
        overrides = facts.get(CRITERIA_OVERRIDES)
        return overrides.get(criterion_id) if overrides else None

    return judged


class CompiledEligibility:
    """A protocol's criteria compiled once; :meth:`evaluate` screens one patient's (valid) facts."""

    __slots__ = ("_steps", "criteria")

    def __init__(self, protocol: Protocol) -> None:
        facts = protocol.eligibility.fact_map()
        self.criteria = tuple(
            CompiledCriterion(c, compile_rule(c.rule, facts) if c.rule is not None else None)
            for c in protocol.eligibility.all_criteria()
        )
        self._steps = tuple(
            (cc.rule.evaluate if cc.rule is not None else _judgement(cc.id), cc.kind is CriterionKind.INCLUSION)
            for cc in self.criteria
        )

    def evaluate(self, facts: Facts) -> EligibilityResult:
        """Screen valid, normalised facts (see :func:`trialtwin.engine.facts.validate_facts`)."""
        outcomes: list[CriterionOutcome] = []
        excluded = unknown = False
        for evaluate, inclusion in self._steps:
            value = evaluate(facts)
            if value is None:
                unknown = True
            elif value is not inclusion:
                excluded = True
            outcomes.append(_OUTCOME[value])
        if excluded:
            status = EligibilityStatus.NOT_ELIGIBLE
        elif unknown:
            status = EligibilityStatus.INCOMPLETE
        else:
            status = EligibilityStatus.ELIGIBLE
        return EligibilityResult(status, tuple(outcomes), self, facts)


compile_eligibility = PerObjectCache(CompiledEligibility)
"""``compile_eligibility(protocol)``: the protocol's criteria compiled, cached by object identity."""


def evaluate_eligibility(protocol: Protocol, facts: Facts, *, validate: bool = True) -> EligibilityResult:
    """Screen one patient: every criterion met / not met / unknown with a reason, and the verdict.

    ``facts`` maps fact names to values in their declared units (missing or ``None``: unknown). With
    ``validate`` (the default) they are first checked and normalised against the protocol's declared facts
    (:class:`trialtwin.engine.facts.FactsError` on a bad value); pass ``validate=False`` only for facts that are
    already normalised (e.g. drawn by the twin from the same declarations).
    """
    checked = fact_validator(protocol)(facts, "facts") if validate else dict(facts)
    return compile_eligibility(protocol).evaluate(checked)
