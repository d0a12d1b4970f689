"""CTCAE v5.0 grading: laboratory values (``grade_lab``) and clinical terms (``grade_term``).

The criteria are data (``trialtwin.engine.ctcae_v5``, transcribed from NCI CTCAE v5.0, 27 Nov 2017); this
module turns those rows into look-up tables once, at import, and applies them. Pure: no I/O, no clock.

Boundary semantics follow the CTCAE wording exactly. "Decreased" grades are half-open intervals closed at the
bottom (neutrophils grade 2 is "<1.5 - 1.0 x 10e9/L": 1.0 is grade 2, 0.999 is grade 3), "increased" grades are
closed at the top (AST grade 2 is ">3.0 - 5.0 x ULN": 5.0 x ULN is grade 2). A value equal to a bound within one
part in 10⁹ counts as equal, so unit conversions (1.8 mg/dL over a ULN of 1.2 mg/dL is 1.5 x ULN) do not tip a
value across a bound by floating-point noise.

A value within normal limits (>= LLN for a decreased term, <= ULN for an increased one) is grade 0, even where
a lab's normal range reaches below a CTCAE bound (with LLN 1.4 x 10e9/L, ANC 1.45 is grade 0, ANC 1.3 grade 2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from trialtwin.engine import ctcae_v5
from trialtwin.protocol.errors import TrialtwinError

__all__ = [
    "SOURCE",
    "CtcaeError",
    "Direction",
    "LabCriterion",
    "canonical_term",
    "grade_febrile_neutropenia",
    "grade_lab",
    "grade_lab_canonical",
    "grade_term",
    "grade_text",
    "is_haematological",
    "lab_criterion",
    "lab_terms",
    "term_facts",
    "terms",
]

SOURCE = ctcae_v5.SOURCE

#: Relative tolerance for "equal to a bound" (see the module docstring).
_REL_TOL = 1e-9


class CtcaeError(TrialtwinError):
    """A grading request the CTCAE tables cannot answer: unknown term, unit or fact, or a missing limit."""


class Direction(StrEnum):
    DECREASED = "decreased"
    INCREASED = "increased"


@dataclass(frozen=True, slots=True)
class LabCriterion:
    """One CTCAE laboratory term: direction, canonical unit, and the bound opening each grade from 2 up."""

    term: str
    meddra_code: int
    direction: Direction
    unit: str
    bounds: tuple[tuple[int, float], ...]  # (grade, bound), most severe first


# ---- look-up tables built once from the data rows --------------------------------------------------------------

_META: dict[str, tuple[int, str]] = {term: (code, soc) for term, code, soc in ctcae_v5.TERMS}
_CANONICAL: dict[str, str] = {term.casefold(): term for term in _META}
_CANONICAL.update({alias.casefold(): term for alias, term in ctcae_v5.ALIASES})


def _build_lab_criteria() -> dict[str, LabCriterion]:
    out: dict[str, LabCriterion] = {}
    for term, direction, unit in ctcae_v5.LAB_TERMS:
        bounds = sorted(((g, b) for t, g, b in ctcae_v5.LAB_THRESHOLDS if t == term), reverse=True)
        out[term] = LabCriterion(term, _META[term][0], Direction(direction), unit, tuple(bounds))
    return out


_LAB: dict[str, LabCriterion] = _build_lab_criteria()
#: canonical unit -> {accepted unit: accepted units per canonical unit}
_UNIT_FACTORS: dict[str, dict[str, float]] = {}
for _canonical, _unit, _factor, _ in ctcae_v5.LAB_UNITS:
    _UNIT_FACTORS.setdefault(_canonical, {})[_unit] = _factor
_ULN_UNITS: dict[str, tuple[str, ...]] = dict(ctcae_v5.ULN_RELATIVE_UNITS)
_TEXT: dict[tuple[str, int], str] = {(t, g): text for t, g, text in ctcae_v5.GRADE_TEXT}
_FLAGS: dict[str, dict[str, int]] = {}
for _term, _fact, _grade in ctcae_v5.CLINICAL_FLAGS:
    _FLAGS.setdefault(_term, {})[_fact] = _grade
_COUNTS: dict[str, dict[str, tuple[tuple[int, float], ...]]] = {}
for _term, _fact, _grade, _least in ctcae_v5.CLINICAL_COUNTS:
    _rows = _COUNTS.setdefault(_term, {})
    _rows[_fact] = tuple(sorted((*_rows.get(_fact, ()), (_grade, float(_least))), reverse=True))
_HAEM: frozenset[str] = frozenset(t.casefold() for t in ctcae_v5.HAEMATOLOGICAL_TERMS)
_FN_ANC, _FN_SINGLE, _FN_SUSTAINED, _FN_HOURS = ctcae_v5.FEBRILE_NEUTROPENIA
_FN_FACTS = ("anc", "temperature_c", "hours_at_or_above_38", "life_threatening")


# ---- terms -----------------------------------------------------------------------------------------------------


def canonical_term(term: str) -> str:
    """The CTCAE spelling of a term or alias ("anaemia" → "Anemia"); other terms come back stripped, as given.

    Adverse-event records may carry any CTCAE term (e.g. "Peripheral sensory neuropathy"); only the terms in
    ``trialtwin.engine.ctcae_v5.TERMS`` and their aliases are recognised and respelled.
    """
    key = term.strip()
    return _CANONICAL.get(key.casefold(), key)


def terms() -> tuple[str, ...]:
    """The CTCAE terms with grading criteria here (lab and clinical)."""
    return tuple(_META)


def lab_terms() -> tuple[str, ...]:
    """The laboratory terms ``grade_lab`` grades."""
    return tuple(_LAB)


def is_haematological(term: str) -> bool:
    """True for haematological toxicity (``ctcae_v5.HAEMATOLOGICAL_TERMS``); every other term is non-haem."""
    return canonical_term(term).casefold() in _HAEM


def grade_text(term: str, grade: int) -> str:
    """The official CTCAE v5.0 wording of ``grade`` for ``term`` (NCI CTCAE v5.0, 27 Nov 2017)."""
    name = _known(term)
    if grade == 5:
        return "Death"
    try:
        return _TEXT[(name, grade)]
    except KeyError:
        raise CtcaeError(f"CTCAE v5.0 defines no grade {grade} for {name!r}") from None


def _known(term: str) -> str:
    name = canonical_term(term)
    if name not in _META:
        raise CtcaeError(f"unknown CTCAE term {term!r} (known: {', '.join(_META)})")
    return name


# ---- laboratory grading ----------------------------------------------------------------------------------------


def lab_criterion(term: str) -> LabCriterion:
    """The grading row of a laboratory term (CtcaeError for a clinical or unknown term)."""
    name = _known(term)
    try:
        return _LAB[name]
    except KeyError:
        raise CtcaeError(
            f"{name!r} is not graded from a lab value; use grade_term (lab terms: {', '.join(_LAB)})"
        ) from None


def _below(value: float, bound: float) -> bool:
    return value < bound and not math.isclose(value, bound, rel_tol=_REL_TOL)


def _above(value: float, bound: float) -> bool:
    return value > bound and not math.isclose(value, bound, rel_tol=_REL_TOL)


def _positive(name: str, value: float | None, term: str) -> float:
    if value is None:
        raise CtcaeError(f"grading {term!r} needs {name} (in the same unit as the value)")
    if not math.isfinite(value) or value <= 0:
        raise CtcaeError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def grade_lab(term: str, value: float, unit: str, *, lln: float | None = None, uln: float | None = None) -> int:
    """CTCAE v5.0 grade (0–4) of a laboratory value (NCI CTCAE v5.0, 27 Nov 2017, Investigations and Blood
    and lymphatic system disorders).

    ``unit`` is a ``trialtwin.protocol.units.FactUnit`` value (or its string): counts in ``10^9/L`` or ``/uL``
    (``/mm3``), haemoglobin in ``g/dL`` or ``g/L``; bilirubin and creatinine in ``xULN``, ``mg/dL`` or
    ``umol/L``; AST and ALT in ``xULN`` or ``U/L``. A decreased term needs ``lln`` and an increased term in an
    absolute unit needs ``uln``, both in the unit of the value; a value in ``xULN`` needs no ``uln``.

    >>> grade_lab("Neutrophil count decreased", 1.0, "10^9/L", lln=2.0)
    2
    >>> grade_lab("ALT increased", 160, "U/L", uln=40)
    2
    """
    crit = lab_criterion(term)
    unit = str(unit)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise CtcaeError(f"{crit.term}: value must be a finite number >= 0, got {value!r}")
    if crit.direction is Direction.DECREASED:
        factors = _UNIT_FACTORS[crit.unit]
        if unit not in factors:
            raise CtcaeError(f"{crit.term}: unknown unit {unit!r} (accepted: {', '.join(factors)})")
        if uln is not None:
            raise CtcaeError(f"{crit.term} is graded against the LLN; uln is not used")
        limit = _positive("lln", lln, crit.term)
        if not _below(value, limit):
            return 0
        factor = factors[unit]
        for grade, bound in crit.bounds:
            if _below(value, bound * factor):
                return grade
        return 1
    # increased, relative to the ULN
    if lln is not None:
        raise CtcaeError(f"{crit.term} is graded against the ULN; lln is not used")
    if unit == "xULN":
        if uln is not None and uln != 1.0:
            raise CtcaeError(f"{crit.term}: a value in xULN is already relative to the ULN; leave uln out")
        limit = 1.0
    elif unit in _ULN_UNITS[crit.term]:
        limit = _positive("uln", uln, crit.term)
    else:
        accepted = ("xULN", *_ULN_UNITS[crit.term])
        raise CtcaeError(f"{crit.term}: unknown unit {unit!r} (accepted: {', '.join(accepted)})")
    if not _above(value, limit):
        return 0
    for grade, bound in crit.bounds:
        if _above(value, bound * limit):
            return grade
    return 1


def grade_lab_canonical(term: str, value: float) -> int:
    """Grade from the CTCAE bounds alone, in the term's canonical unit, without a normal limit.

    Grades 2–4 do not depend on the LLN/ULN; below grade 2 the answer is 0 (grade 0 and 1 are not told apart).
    Used by the dose-modification rules, which act on grade >= 2 only. ``xULN`` terms are graded fully.
    """
    crit = _LAB[term]
    if crit.direction is Direction.DECREASED:
        for grade, bound in crit.bounds:
            if _below(value, bound):
                return grade
        return 0
    for grade, bound in crit.bounds:
        if _above(value, bound):
            return grade
    return 1 if _above(value, 1.0) else 0


# ---- clinical terms --------------------------------------------------------------------------------------------


def term_facts(term: str) -> tuple[str, ...]:
    """The fact keywords ``grade_term`` accepts for a clinical term."""
    name = _known(term)
    if name == "Febrile neutropenia":
        return _FN_FACTS
    if name in _LAB:
        raise CtcaeError(f"{name!r} is graded from a lab value; use grade_lab")
    return (*_COUNTS.get(name, {}), *_FLAGS.get(name, {}))


def grade_febrile_neutropenia(
    anc: float,
    temperature_c: float,
    *,
    hours_at_or_above_38: float = 0.0,
    life_threatening: bool = False,
    anc_unit: str = "10^9/L",
) -> int:
    """CTCAE v5.0 Febrile neutropenia: 3 when ANC <1000/mm³ with a single temperature >38.3 °C or a sustained
    temperature >=38 °C for more than one hour; 4 when it also has life-threatening consequences; else 0
    (NCI CTCAE v5.0, 27 Nov 2017, Blood and lymphatic system disorders).

    ``temperature_c`` is the highest single reading; ``hours_at_or_above_38`` how long the temperature stayed at
    or above 38.0 °C. ``anc_unit``: ``10^9/L`` or ``/uL`` (``/mm3``).
    """
    factors = _UNIT_FACTORS["10^9/L"]
    if anc_unit not in factors:
        raise CtcaeError(f"Febrile neutropenia: unknown ANC unit {anc_unit!r} (accepted: {', '.join(factors)})")
    for name, value in (("anc", anc), ("temperature_c", temperature_c), ("hours", hours_at_or_above_38)):
        if not math.isfinite(value) or value < 0:
            raise CtcaeError(f"Febrile neutropenia: {name} must be a finite number >= 0, got {value!r}")
    neutropenic = _below(anc, _FN_ANC * factors[anc_unit])
    fever = _above(temperature_c, _FN_SINGLE) or (
        temperature_c >= _FN_SUSTAINED and _above(hours_at_or_above_38, _FN_HOURS)
    )
    if not (neutropenic and fever):
        return 0
    return 4 if life_threatening else 3


def grade_term(term: str, **facts: float | bool) -> int:
    """CTCAE v5.0 grade (0–4) of a clinical term from facts (NCI CTCAE v5.0, 27 Nov 2017).

    Facts per term (``term_facts(term)`` lists them); the grade is the highest any fact gives, 0 if none:

    * Diarrhea: ``stools_over_baseline`` (1–3 → 1, 4–6 → 2, >= 7 → 3), ``ostomy_output_mild`` (1),
      ``ostomy_output_moderate``/``limiting_instrumental_adl`` (2), ``ostomy_output_severe``/``hospitalization``/
      ``limiting_self_care_adl`` (3), ``life_threatening`` (4).
    * Nausea: ``loss_of_appetite`` (1), ``decreased_intake`` (2), ``inadequate_intake``/
      ``tube_feeding_tpn_or_hospitalization`` (3). Nausea has no grade 4.
    * Vomiting: ``vomiting`` (present, intervention not indicated: 1), ``outpatient_iv_hydration``/
      ``medical_intervention`` (2), ``tube_feeding_tpn_or_hospitalization`` (3), ``life_threatening`` (4).
    * Febrile neutropenia: ``anc`` (10^9/L), ``temperature_c``, ``hours_at_or_above_38``, ``life_threatening``
      (see ``grade_febrile_neutropenia``).

    >>> grade_term("diarrhoea", stools_over_baseline=5)
    2
    """
    name = _known(term)
    accepted = term_facts(name)
    unknown = sorted(set(facts) - set(accepted))
    if unknown:
        raise CtcaeError(f"{name}: unknown fact(s) {', '.join(unknown)} (accepted: {', '.join(accepted)})")
    if name == "Febrile neutropenia":
        missing = [f for f in ("anc", "temperature_c") if f not in facts]
        if missing:
            raise CtcaeError(f"Febrile neutropenia needs {' and '.join(missing)}")
        return grade_febrile_neutropenia(
            float(facts["anc"]),
            float(facts["temperature_c"]),
            hours_at_or_above_38=float(facts.get("hours_at_or_above_38", 0.0)),
            life_threatening=bool(facts.get("life_threatening", False)),
        )
    return _grade_clinical(name, facts)


def _grade_clinical(name: str, facts: Mapping[str, float | bool]) -> int:
    grade = 0
    flags = _FLAGS.get(name, {})
    counts = _COUNTS.get(name, {})
    for fact, value in facts.items():
        if fact in counts:
            if isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise CtcaeError(f"{name}: {fact} must be a number >= 0, got {value!r}")
            for g, least in counts[fact]:
                if value >= least:
                    grade = max(grade, g)
                    break
        elif not isinstance(value, bool):
            raise CtcaeError(f"{name}: {fact} is a yes/no fact (true/false), got {value!r}")
        elif value:
            grade = max(grade, flags[fact])
    return grade
