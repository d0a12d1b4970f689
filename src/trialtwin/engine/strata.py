"""Stratum derivation: each stratification factor's level from a patient's facts.

A factor's levels are tried in protocol order and the first level whose rule is **true** is the patient's
level (``trialtwin.protocol.model.StratificationFactor``). Because the first true level wins, an earlier level
that is *unknown* (a fact it needs is missing, or it has no rule) leaves the factor undecided: it is reported
as missing with the facts it needs, and randomization refuses the patient until they are given
(stratified randomization needs every factor; ICH E9 §2.3.2 on stratification by prognostic factors).
A factor whose levels are all false is reported as unmatched (a gap in the protocol's level rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trialtwin.engine.facts import fact_validator
from trialtwin.engine.rules import CompiledRule, Facts, PerObjectCache, compile_rule
from trialtwin.protocol.model import Protocol


@dataclass(frozen=True, slots=True)
class StrataResult:
    """Derived levels (``factor id → level code``), and the factors that could not be derived.

    ``missing`` maps a factor id to the missing facts it needs (empty when a level has no rule);
    ``unmatched`` lists factors whose every level rule is false.
    """

    levels: dict[str, str]
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unmatched: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every factor has a level."""
        return not self.missing and not self.unmatched

    def codes(self, factor_ids: tuple[str, ...]) -> tuple[str, ...]:
        """The level codes in the order of ``factor_ids`` (e.g. ``randomization.stratified_by``);
        KeyError naming the first factor without a level."""
        out = []
        for factor_id in factor_ids:
            if factor_id not in self.levels:
                raise KeyError(f"stratification factor {factor_id!r} has no level for this patient")
            out.append(self.levels[factor_id])
        return tuple(out)

    def to_dict(self) -> dict[str, str | None]:
        """``factor id → level code`` with ``None`` for a factor without a level (the CLI's ``strata``)."""
        out: dict[str, str | None] = dict(self.levels)
        for factor_id in (*self.missing, *self.unmatched):
            out[factor_id] = None
        return out


class CompiledStrata:
    """A protocol's stratification rules compiled once; :meth:`evaluate` derives one patient's levels."""

    __slots__ = ("factors",)

    def __init__(self, protocol: Protocol) -> None:
        facts = protocol.eligibility.fact_map()
        self.factors: tuple[tuple[str, tuple[tuple[str, CompiledRule | None], ...]], ...] = tuple(
            (
                factor.id,
                tuple((lv.code, compile_rule(lv.rule, facts) if lv.rule is not None else None) for lv in factor.levels),
            )
            for factor in protocol.stratification
        )

    def evaluate(self, facts: Facts) -> StrataResult:
        levels: dict[str, str] = {}
        missing: dict[str, tuple[str, ...]] = {}
        unmatched: list[str] = []
        for factor_id, factor_levels in self.factors:
            for code, rule in factor_levels:
                value = rule.evaluate(facts) if rule is not None else None
                if value is True:
                    levels[factor_id] = code
                    break
                if value is None:
                    missing[factor_id] = rule.missing_facts(facts) if rule is not None else ()
                    break
            else:
                unmatched.append(factor_id)
        return StrataResult(levels, missing, tuple(unmatched))


compile_strata = PerObjectCache(CompiledStrata)
"""``compile_strata(protocol)``: the protocol's stratification rules compiled, cached by object identity."""


def evaluate_strata(protocol: Protocol, facts: Mapping[str, object], *, validate: bool = True) -> StrataResult:
    """Each stratification factor's level (first level whose rule is true) for one patient's facts.

    Factors that need a missing fact are listed in ``missing`` with those facts, not guessed. With
    ``validate`` the facts are first checked against the protocol's declared facts (``FactsError``).
    """
    checked = fact_validator(protocol)(facts, "facts") if validate else facts
    return compile_strata(protocol).evaluate(checked)
