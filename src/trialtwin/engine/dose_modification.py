"""Dose modification: ``evaluate_dose`` decides give / reduce / hold / omit / discontinue for one scheduled
administration from today's labs, the toxicity history and the current dose level. Pure and fast.

Inputs
------
* ``labs`` (:class:`Labs`): today's values in fixed units — ``anc``, ``platelets``, ``wbc`` in 10^9/L,
  ``hemoglobin`` in g/dL, ``bilirubin``, ``ast``, ``alt``, ``creatinine`` as multiples of the ULN,
  ``bilirubin_mg_dl`` (total bilirubin in mg/dL, for the vinorelbine hepatic table) and ``creatinine_clearance``
  in mL/min. ``labs_from_data`` reads a mapping (JSON) and converts other units.
* ``toxicity_history``: the adverse-event episodes so far (:class:`ToxicityEvent`: CTCAE term, worst grade,
  onset cycle/day, grade on the evaluation day, flags). One event is one *occurrence*; events with an onset
  after the evaluated (cycle, day) are ignored, so replaying a record gives the decisions it gave.
* ``current_level``: the ladder level of the last dose (0 = starting dose, -1 = first reduction, ...).

How the level is found
----------------------
The level the history implies is computed from the whole history every time (idempotent: evaluating a held
dose twice does not reduce twice): start at 0 (or a lower cap, e.g. eribulin in renal impairment), go one level
down per occurrence that a "reduce per occurrence" rule matches (an event matching several clauses counts once),
take the lowest target of the "reduce to" and ladder rules. The new level is the lower of that and
``current_level`` (never re-escalate). Below the regimen's lowest level → discontinue. A ``current_level``
lowered outside these rules (investigator's choice) is kept, but later occurrences are still counted from 0.

Rules are data: one :class:`DrugRules` per drug in ``RULES`` (keyed by ``Regimen.drug``), each row with an id,
its wording and its source (Trodelvy US PI Tables 1–2; Halaven US PI 2.2–2.3; capecitabine PI; Gemzar/Pfizer
gemcitabine PI; vinorelbine PI). See docs/engine/dosing-and-toxicity.md for the full table and the choices made
where a label leaves room.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from trialtwin.engine import ctcae_v5
from trialtwin.engine.toxicity import canonical_term, grade_lab_canonical, is_haematological
from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Regimen
from trialtwin.protocol.units import DoseUnit

__all__ = [
    "GIVEN_ACTIONS",
    "LAB_FIELDS",
    "RULES",
    "ActiveHold",
    "Band",
    "ConsecutiveHolds",
    "DelayedDay",
    "DoseAction",
    "DoseDecision",
    "DoseModificationError",
    "DrugRules",
    "GradeLadder",
    "LabBands",
    "LabHold",
    "LabLevelCap",
    "Labs",
    "ReducePerOccurrence",
    "ReduceToLevel",
    "RuleFinding",
    "ToxicityEvent",
    "evaluate_dose",
    "events_from_data",
    "labs_from_data",
    "rules_for",
]


class DoseModificationError(TrialtwinError):
    """Input the dose-modification rules cannot use: unknown drug, bad level/day, malformed labs or events."""


class DoseAction(StrEnum):
    GIVE = "give"  # give today at the current level (possibly a same-day percentage)
    REDUCE = "reduce"  # give today at a lower level than the last dose
    HOLD = "hold"  # do not give today; re-evaluate later (``level`` is the level to resume at)
    OMIT = "omit"  # skip this administration altogether (eribulin Day 8 not recovered by Day 15)
    DISCONTINUE = "discontinue"  # stop the drug permanently


#: The actions after which a dose was administered (given, or given reduced): what "the last dose" means in the
#: dose rules and in attributing an adverse event to a dose.
GIVEN_ACTIONS: tuple[str, ...] = (DoseAction.GIVE.value, DoseAction.REDUCE.value)


# ---- labs ------------------------------------------------------------------------------------------------------

#: field, canonical unit, CTCAE term graded from it (None: not graded), label.
LAB_FIELDS: tuple[tuple[str, str, str | None, str], ...] = (
    ("anc", "10^9/L", "Neutrophil count decreased", "absolute neutrophil count"),
    ("platelets", "10^9/L", "Platelet count decreased", "platelet count"),
    ("wbc", "10^9/L", "White blood cell decreased", "white blood cell count"),
    ("hemoglobin", "g/dL", "Anemia", "haemoglobin"),
    ("bilirubin", "xULN", "Blood bilirubin increased", "total bilirubin (multiple of ULN)"),
    ("ast", "xULN", "Aspartate aminotransferase increased", "AST (multiple of ULN)"),
    ("alt", "xULN", "Alanine aminotransferase increased", "ALT (multiple of ULN)"),
    ("creatinine", "xULN", "Creatinine increased", "serum creatinine (multiple of ULN)"),
    ("bilirubin_mg_dl", "mg/dL", None, "total bilirubin in mg/dL"),
    ("creatinine_clearance", "mL/min", None, "creatinine clearance"),
)
_LAB_UNIT: dict[str, str] = {name: unit for name, unit, _, _ in LAB_FIELDS}
_LAB_TERM: tuple[tuple[str, str], ...] = tuple((name, term) for name, _, term, _ in LAB_FIELDS if term)
_UNIT_FACTORS: dict[str, dict[str, float]] = {}
for _canonical, _unit, _factor, _ in ctcae_v5.LAB_UNITS:
    _UNIT_FACTORS.setdefault(_canonical, {})[_unit] = _factor
_ABSOLUTE_ULN_UNITS: dict[str, tuple[str, ...]] = {
    "bilirubin": ("mg/dL", "umol/L"),
    "creatinine": ("mg/dL", "umol/L"),
    "ast": ("U/L",),
    "alt": ("U/L",),
}


@dataclass(frozen=True, slots=True)
class Labs:
    """Today's laboratory values in the units of ``LAB_FIELDS`` (None: not measured)."""

    anc: float | None = None
    platelets: float | None = None
    wbc: float | None = None
    hemoglobin: float | None = None
    bilirubin: float | None = None
    ast: float | None = None
    alt: float | None = None
    creatinine: float | None = None
    bilirubin_mg_dl: float | None = None
    creatinine_clearance: float | None = None

    def __post_init__(self) -> None:
        for name in _LAB_UNIT:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise DoseModificationError(f"labs.{name} must be a number, got {value!r}")
            if value < 0:
                raise DoseModificationError(f"labs.{name} must be >= 0 {_LAB_UNIT[name]}, got {value!r}")


def labs_from_data(data: Any, *, source: str = "labs") -> Labs:
    """Labs from a mapping such as parsed JSON, naming ``source`` and the field in every error.

    A value is a number in the field's unit (``LAB_FIELDS``), or ``{"value": v, "unit": u}`` in another unit:
    counts in ``/uL`` or ``/mm3``, haemoglobin in ``g/L``, and for the xULN fields an absolute unit with the
    ULN: ``{"value": 2.4, "unit": "mg/dL", "uln": 1.2}`` (bilirubin, creatinine: mg/dL or umol/L; AST, ALT: U/L).
    """
    if not isinstance(data, Mapping):
        raise DoseModificationError(f"{source}: expected an object of lab values, got {type(data).__name__}")
    values: dict[str, float] = {}
    for name, raw in data.items():
        if name not in _LAB_UNIT:
            raise DoseModificationError(f"{source}: unknown lab {name!r} (known: {', '.join(_LAB_UNIT)})")
        if raw is None:
            continue
        values[name] = _lab_value(name, raw, f"{source}: {name}")
    try:
        return Labs(**values)
    except DoseModificationError as exc:
        raise DoseModificationError(f"{source}: {exc}") from None


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise DoseModificationError(f"{where} must be a number, got {raw!r}")
    return float(raw)


def _lab_value(name: str, raw: Any, where: str) -> float:
    canonical = _LAB_UNIT[name]
    if not isinstance(raw, Mapping):
        return _number(raw, where)
    unknown = sorted(set(raw) - {"value", "unit", "uln"})
    if unknown or "value" not in raw:
        raise DoseModificationError(f"{where}: expected a number or {{value, unit[, uln]}}, got {dict(raw)!r}")
    value = _number(raw["value"], f"{where}.value")
    unit = raw.get("unit", canonical)
    if not isinstance(unit, str):
        raise DoseModificationError(f"{where}.unit must be a string, got {unit!r}")
    if unit == canonical and "uln" not in raw:
        return value
    if canonical == "xULN" and unit in _ABSOLUTE_ULN_UNITS[name]:
        if "uln" not in raw:
            raise DoseModificationError(f"{where}: a value in {unit} needs the ULN in the same unit (uln)")
        uln = _number(raw["uln"], f"{where}.uln")
        if uln <= 0:
            raise DoseModificationError(f"{where}.uln must be positive, got {uln!r}")
        return value / uln
    factors = _UNIT_FACTORS.get(canonical, {canonical: 1.0})
    if unit in factors and "uln" not in raw:
        return value / factors[unit]
    accepted = list(factors) + list(_ABSOLUTE_ULN_UNITS.get(name, ()))
    raise DoseModificationError(f"{where}: unit {unit!r} is not accepted (accepted: {', '.join(accepted)})")


# ---- toxicity events -------------------------------------------------------------------------------------------

_GI_TERMS = frozenset({"Nausea", "Vomiting", "Diarrhea"})
_NEUTROPENIA = "Neutrophil count decreased"
_FEBRILE_NEUTROPENIA = "Febrile neutropenia"
_PLATELETS = "Platelet count decreased"


@dataclass(frozen=True, slots=True)
class ToxicityEvent:
    """One adverse-event episode (one occurrence), as an AE log records it.

    * ``term``: CTCAE term (aliases such as "neutropenia", "diarrhoea" are respelled); any other CTCAE term is
      accepted and counts as non-haematological unless listed in ``ctcae_v5.HAEMATOLOGICAL_TERMS``.
    * ``grade``: worst CTCAE grade of the episode (1–5); ``cycle``/``day``: onset.
    * ``current_grade``: grade on the evaluation day (None: still at ``grade``); <= 1 means resolved.
    * ``febrile``/``infection``: neutropenia with fever (= febrile neutropenia) / with infection or sepsis.
    * ``prolonged``: neutropenia meeting the "prolonged" definition (see ``is_prolonged_neutropenia``).
    * ``controlled``: nausea/vomiting/diarrhoea controlled by antiemetics/antidiarrhoeals.
    * ``transfusion``: thrombocytopenia that needed a platelet transfusion.
    * ``duration_days``: days the episode lasted at its worst grade.
    * ``dose_delay_days``/``dose_omitted``/``affected_dose_day``: the episode delayed (by so many days) or
      omitted the scheduled dose of that cycle day.

    ``name`` (the CTCAE spelling of ``term``) and ``haematological`` are set from ``term`` on creation.
    """

    term: str
    grade: int
    cycle: int
    day: int
    current_grade: int | None = None
    febrile: bool = False
    infection: bool = False
    prolonged: bool = False
    controlled: bool = False
    transfusion: bool = False
    duration_days: int | None = None
    dose_delay_days: int = 0
    dose_omitted: bool = False
    affected_dose_day: int | None = None
    name: str = field(init=False, repr=False, compare=False)
    haematological: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def bad(what: str) -> DoseModificationError:
            return DoseModificationError(f"toxicity event {self.term!r} (C{self.cycle}D{self.day}): {what}")

        if not isinstance(self.term, str) or not self.term.strip():
            raise DoseModificationError(f"toxicity event: term must be a non-empty string, got {self.term!r}")
        for key, low in (("grade", 1), ("cycle", 1), ("day", 1), ("dose_delay_days", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(f"{key} must be an integer >= {low}, got {value!r}")
        if self.grade > 5:
            raise bad(f"grade must be 1-5, got {self.grade}")
        if self.current_grade is not None and (
            isinstance(self.current_grade, bool)
            or not isinstance(self.current_grade, int)
            or not 0 <= self.current_grade <= self.grade
        ):
            raise bad(f"current_grade must be an integer from 0 to the worst grade {self.grade}")
        for key in ("duration_days", "affected_dose_day"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise bad(f"{key} must be a non-negative integer, got {value!r}")
        name = canonical_term(self.term)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "haematological", is_haematological(name))

    @property
    def now(self) -> int:
        """Grade on the evaluation day."""
        return self.grade if self.current_grade is None else self.current_grade

    @property
    def is_febrile_neutropenia(self) -> bool:
        """CTCAE Febrile neutropenia, recorded as that term or as grade >= 3 neutropenia flagged febrile."""
        return self.name == _FEBRILE_NEUTROPENIA or (self.name == _NEUTROPENIA and self.febrile and self.grade >= 3)

    @property
    def is_prolonged_neutropenia(self) -> bool:
        """Prolonged grade 3–4 neutropenia: flagged ``prolonged``, or grade 4 lasting >= 7 days, or grade 3–4
        that delayed a dose by >= 14 days (Trodelvy US PI 2020 Table 2 wording "Grade 4 neutropenia >= 7 days
        ... or Grade 3-4 neutropenia which delays dosing by 2 or 3 weeks", used to define the current PI's
        "prolonged")."""
        if self.name != _NEUTROPENIA or self.grade < 3:
            return False
        long_g4 = self.grade >= 4 and self.duration_days is not None and self.duration_days >= 7
        return self.prolonged or long_g4 or self.dose_delay_days >= 14


def events_from_data(data: Any, *, source: str = "history") -> tuple[ToxicityEvent, ...]:
    """Toxicity events from a list of mappings (or ``{"events": [...]}``), naming ``source`` and the item in
    every error. Keys are the fields of :class:`ToxicityEvent`."""
    if isinstance(data, Mapping) and set(data) == {"events"}:
        data = data["events"]
    if not isinstance(data, list):
        raise DoseModificationError(f"{source}: expected a list of toxicity events (or {{events: [...]}})")
    allowed = {f for f in ToxicityEvent.__dataclass_fields__ if f not in ("name", "haematological")}
    out: list[ToxicityEvent] = []
    for i, item in enumerate(data):
        where = f"{source}: events[{i}]"
        if not isinstance(item, Mapping):
            raise DoseModificationError(f"{where}: expected an object, got {item!r}")
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise DoseModificationError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {sorted(allowed)})")
        missing = [k for k in ("term", "grade", "cycle", "day") if k not in item]
        if missing:
            raise DoseModificationError(f"{where}: missing {', '.join(missing)}")
        for flag in ("febrile", "infection", "prolonged", "controlled", "transfusion", "dose_omitted"):
            if flag in item and not isinstance(item[flag], bool):
                raise DoseModificationError(f"{where}.{flag} must be true or false, got {item[flag]!r}")
        try:
            out.append(ToxicityEvent(**item))
        except DoseModificationError as exc:
            raise DoseModificationError(f"{where}: {exc}") from None
    return tuple(out)


# ---- rule rows -------------------------------------------------------------------------------------------------

Predicate = Callable[[ToxicityEvent], bool]

#: Named event predicates the rule rows refer to (the rows stay data; the clinical definitions live here).
PREDICATES: dict[str, Predicate] = {
    "febrile_neutropenia": lambda e: e.is_febrile_neutropenia,
    "prolonged_neutropenia_g34": lambda e: e.is_prolonged_neutropenia,
    "uncontrolled_gi_g34": lambda e: e.name in _GI_TERMS and e.grade >= 3 and not e.controlled,
    "neutropenia_g4_over_7_days": lambda e: (
        e.name == _NEUTROPENIA
        and e.grade >= 4
        and (e.duration_days > 7 if e.duration_days is not None else e.prolonged)
    ),
    "neutropenia_with_fever_or_infection": lambda e: (
        e.is_febrile_neutropenia or (e.name == _NEUTROPENIA and e.grade >= 3 and e.infection)
    ),
    "platelets_below_25": lambda e: e.name == _PLATELETS and e.grade >= 4,
    "platelets_below_50_transfused": lambda e: e.name == _PLATELETS and e.grade >= 3 and e.transfusion,
    "non_haem_g34": lambda e: not e.haematological and e.grade >= 3,
    "non_haem_g34_now": lambda e: not e.haematological and e.now >= 3,
    "non_haem_g34_unresolved_except_nv_alopecia": lambda e: (
        not e.haematological and e.grade >= 3 and e.now >= 2 and e.name not in ("Nausea", "Vomiting", "Alopecia")
    ),
    "day8_delayed_or_omitted": lambda e: e.affected_dose_day == 8 and (e.dose_delay_days > 0 or e.dose_omitted),
    "neutropenic_fever_or_sepsis": lambda e: (
        e.is_febrile_neutropenia or (e.name == _NEUTROPENIA and e.grade >= 2 and (e.febrile or e.infection))
    ),
}


def _active(predicate: Predicate) -> Predicate:
    """An event that is still going on (grade >= 2 on the evaluation day) and matches ``predicate``."""
    return lambda e: e.now >= 2 and predicate(e)


ACTIVE_PREDICATES: dict[str, Predicate] = {
    "febrile_neutropenia_ongoing": _active(PREDICATES["febrile_neutropenia"]),
    "uncontrolled_gi_g34_unresolved": _active(PREDICATES["uncontrolled_gi_g34"]),
    "non_haem_g34_now": PREDICATES["non_haem_g34_now"],
    "non_haem_g34_unresolved_except_nv_alopecia": PREDICATES["non_haem_g34_unresolved_except_nv_alopecia"],
    "capecitabine_interrupt": lambda e: (
        (e.haematological and e.now >= 3) or (not e.haematological and e.now >= 2 and not _capecitabine_exempt(e.name))
    ),
}

#: Capecitabine toxicities the label calls "not serious" (no interruption, no ladder step).
CAPECITABINE_EXEMPT = ("Alopecia", "Dysgeusia", "Nail changes", "Nail discoloration", "Nail ridging")
_CAP_EXEMPT = frozenset(t.casefold() for t in CAPECITABINE_EXEMPT)


def _capecitabine_exempt(name: str) -> bool:
    return name.casefold() in _CAP_EXEMPT


@dataclass(frozen=True, slots=True)
class LabHold:
    """Hold when ``lab`` is strictly below ``below`` on the listed cycle days (None: every dosing day)."""

    id: str
    lab: str
    below: float
    text: str
    source: str
    days: tuple[int, ...] | None = None
    first_cycle_only: bool = False


@dataclass(frozen=True, slots=True)
class Band:
    """One row of a same-day dose table: ``percent`` (0 = hold) when any condition ``(lab, op, value)`` holds."""

    id: str
    percent: float
    any_of: tuple[tuple[str, Literal["<", "<=", ">", ">="], float], ...]
    text: str


@dataclass(frozen=True, slots=True)
class LabBands:
    """A same-day dose table: the first matching row gives the percentage (none: 100 %). ``relative_to``:
    percent of the current level's dose (``level``) or of the starting dose (``start``, taken as the lower
    of the two when combined with another table)."""

    id: str
    rows: tuple[Band, ...]
    source: str
    days: tuple[int, ...] | None = None
    relative_to: Literal["level", "start"] = "level"


@dataclass(frozen=True, slots=True)
class ActiveHold:
    """Hold while a toxicity matching ``predicate`` (``ACTIVE_PREDICATES``) is going on; today's labs count
    as toxicities of their CTCAE grade."""

    id: str
    predicate: str
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ReducePerOccurrence:
    """One level down for each event matching ``predicate`` (``PREDICATES``)."""

    id: str
    predicate: str
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ReduceToLevel:
    """At most ``level`` once any event matches ``predicate``."""

    id: str
    predicate: str
    level: int
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class GradeLadder:
    """Per toxicity and grade: the n-th appearance of a grade-g episode sets the level to ``steps[g][n-1]``
    (None: discontinue); appearances beyond the list discontinue. Haematological episodes enter from
    ``haematological_from`` up; ``exempt`` terms never."""

    id: str
    steps: tuple[tuple[int, tuple[int | None, ...]], ...]
    text: str
    source: str
    haematological_from: int = 3
    exempt: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabLevelCap:
    """The starting level is at most ``level`` while ``at_least <= lab < below``."""

    id: str
    lab: str
    at_least: float
    below: float
    level: int
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ConsecutiveHolds:
    """After ``reduce_at`` consecutive held doses the level is at most ``level``; a hold that would be the
    ``discontinue_at``-th in a row discontinues."""

    id: str
    reduce_at: int
    level: int
    discontinue_at: int
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class DelayedDay:
    """A dose on ``day`` may be delayed up to ``max_delay_days``: still not fit by then → omit (the omission
    counts as an occurrence); given after a delay → one level down (the delay counts as the occurrence unless
    an event of this cycle already triggered a reduction)."""

    id: str
    day: int
    max_delay_days: int
    text: str
    source: str


RuleRow = (
    LabHold
    | LabBands
    | ActiveHold
    | ReducePerOccurrence
    | ReduceToLevel
    | GradeLadder
    | LabLevelCap
    | ConsecutiveHolds
    | DelayedDay
)


@dataclass(frozen=True, slots=True)
class DrugRules:
    """The dose-modification rules of one drug: required labs, rule rows, what happens below the ladder."""

    drug: str
    source: str
    required_labs: tuple[str, ...]
    rows: tuple[RuleRow, ...]
    below_lowest: str  # wording of "further reduction needed"


# ---- the rule tables -------------------------------------------------------------------------------------------

_SG = "Trodelvy US PI section 2.3, Table 2"
_SG1 = "Trodelvy US PI section 2.3, Table 1"
_ERI = "Halaven US PI section 2.2"
_ERI3 = "Halaven US PI section 2.3 (renal impairment)"
_CAP = "Capecitabine PI section 4.2 (dose modification for toxicity; Xeloda scheme)"
_GEM_OLD = "Gemzar PI (older breast-cancer Day-8 table)"
_GEM = "Gemcitabine US PI (Pfizer) section 2"
_VIN = "Vinorelbine PI section 2.2 (haematologic toxicity)"
_VIN_HEP = "Vinorelbine PI section 2.3 (hepatic impairment)"

RULES: dict[str, DrugRules] = {
    "sacituzumab govitecan": DrugRules(
        drug="sacituzumab govitecan",
        source="Trodelvy (sacituzumab govitecan-hziy) US PI section 2.3, Tables 1-2",
        required_labs=("anc",),
        below_lowest=f"further reduction needed after 5 mg/kg: permanently discontinue ({_SG1})",
        rows=(
            LabHold("SG-ANC-D1", "anc", 1.5, "ANC < 1500/mm3 on Day 1: withhold", _SG, days=(1,)),
            LabHold("SG-ANC-D8", "anc", 1.0, "ANC < 1000/mm3 on Day 8: withhold", _SG, days=(8,)),
            ActiveHold(
                "SG-FN-HOLD",
                "febrile_neutropenia_ongoing",
                "febrile neutropenia: withhold until resolved and ANC recovered",
                _SG,
            ),
            ActiveHold(
                "SG-GI-HOLD",
                "uncontrolled_gi_g34_unresolved",
                "grade 3-4 nausea, vomiting or diarrhoea not controlled by supportive care: withhold until <= grade 1",
                _SG,
            ),
            ReducePerOccurrence(
                "SG-FN-REDUCE",
                "febrile_neutropenia",
                "febrile neutropenia: one dose level down per occurrence",
                _SG,
            ),
            ReducePerOccurrence(
                "SG-NEUT-REDUCE",
                "prolonged_neutropenia_g34",
                "prolonged grade 3-4 neutropenia: one dose level down per occurrence",
                _SG,
            ),
            ReducePerOccurrence(
                "SG-GI-REDUCE",
                "uncontrolled_gi_g34",
                "grade 3-4 nausea, vomiting or diarrhoea not controlled by supportive care: one dose level "
                "down per occurrence",
                _SG,
            ),
        ),
    ),
    "eribulin": DrugRules(
        drug="eribulin",
        source="Halaven (eribulin mesylate) US PI sections 2.2-2.3",
        required_labs=("anc", "platelets"),
        below_lowest=f"event requiring a reduction while receiving 0.7 mg/m2: discontinue ({_ERI})",
        rows=(
            LabHold("ERI-ANC", "anc", 1.0, "ANC < 1000/mm3 on Day 1 or Day 8: do not administer", _ERI),
            LabHold("ERI-PLT", "platelets", 75.0, "platelets < 75,000/mm3 on Day 1 or Day 8: do not administer", _ERI),
            ActiveHold(
                "ERI-NONHAEM-HOLD",
                "non_haem_g34_now",
                "grade 3 or 4 non-haematological toxicity: do not administer",
                _ERI,
            ),
            DelayedDay(
                "ERI-D8-DELAY",
                8,
                7,
                "Day 8 dose may be delayed up to 1 week: not <= grade 2 by Day 15 → omit; recovered by Day 15 "
                "→ give at a reduced dose and start the next cycle no sooner than 2 weeks later",
                _ERI,
            ),
            ReducePerOccurrence(
                "ERI-R-ANC-7D", "neutropenia_g4_over_7_days", "ANC < 500/mm3 for > 7 days: permanently reduce", _ERI
            ),
            ReducePerOccurrence(
                "ERI-R-ANC-FEVER",
                "neutropenia_with_fever_or_infection",
                "ANC < 1000/mm3 with fever or infection: permanently reduce",
                _ERI,
            ),
            ReducePerOccurrence(
                "ERI-R-PLT-25", "platelets_below_25", "platelets < 25,000/mm3: permanently reduce", _ERI
            ),
            ReducePerOccurrence(
                "ERI-R-PLT-50-TX",
                "platelets_below_50_transfused",
                "platelets < 50,000/mm3 requiring transfusion: permanently reduce",
                _ERI,
            ),
            ReducePerOccurrence(
                "ERI-R-NONHAEM",
                "non_haem_g34",
                "non-haematological grade 3 or 4 toxicity: permanently reduce",
                _ERI,
            ),
            ReducePerOccurrence(
                "ERI-R-D8",
                "day8_delayed_or_omitted",
                "Day 8 dose omitted or delayed for toxicity in a previous cycle: permanently reduce",
                _ERI,
            ),
            LabLevelCap(
                "ERI-RENAL",
                "creatinine_clearance",
                15.0,
                50.0,
                -1,
                "creatinine clearance 15-49 mL/min: 1.1 mg/m2",
                _ERI3,
            ),
        ),
    ),
    "capecitabine": DrugRules(
        drug="capecitabine",
        source="Capecitabine PI section 4.2 (Xeloda dose-modification scheme)",
        required_labs=("anc", "platelets"),
        below_lowest=f"further reduction needed after 50 %: discontinue permanently ({_CAP})",
        rows=(
            LabHold(
                "CAP-START-ANC",
                "anc",
                1.5,
                "baseline neutrophils < 1.5 x 10^9/L: do not start",
                _CAP,
                days=(1,),
                first_cycle_only=True,
            ),
            LabHold(
                "CAP-START-PLT",
                "platelets",
                100.0,
                "baseline platelets < 100 x 10^9/L: do not start",
                _CAP,
                days=(1,),
                first_cycle_only=True,
            ),
            ActiveHold(
                "CAP-INTERRUPT",
                "capecitabine_interrupt",
                "grade 2-4 toxicity (haematological: grade 3-4): interrupt until resolved to grade 0-1",
                _CAP,
            ),
            GradeLadder(
                "CAP-LADDER",
                steps=((2, (0, -1, -2)), (3, (-1, -2)), (4, ())),
                text="grade 2: 100 % / 75 % / 50 % / stop at the 1st-4th appearance; grade 3: 75 % / 50 % / stop; "
                "grade 4: stop",
                source=_CAP,
                haematological_from=3,
                exempt=CAPECITABINE_EXEMPT,
            ),
        ),
    ),
    "gemcitabine": DrugRules(
        drug="gemcitabine",
        source="Gemcitabine PI (Gemzar breast Day-8 table; Pfizer US PI section 2)",
        required_labs=("anc", "platelets"),
        below_lowest=f"no further reduction defined: discontinue ({_GEM})",
        rows=(
            LabHold("GEM-D1-ANC", "anc", 1.5, "Day 1: ANC < 1500/mm3: withhold", _GEM, days=(1,)),
            LabHold("GEM-D1-PLT", "platelets", 100.0, "Day 1: platelets < 100,000/mm3: withhold", _GEM, days=(1,)),
            LabBands(
                "GEM-D8",
                rows=(
                    Band(
                        "GEM-D8-HOLD",
                        0.0,
                        (("anc", "<", 0.7), ("platelets", "<", 50.0)),
                        "Day 8/15: ANC < 700/mm3 or platelets < 50,000/mm3: hold",
                    ),
                    Band("GEM-D8-50", 50.0, (("anc", "<", 1.0),), "Day 8/15: ANC 700-999/mm3: 50 %"),
                    Band(
                        "GEM-D8-75",
                        75.0,
                        (("anc", "<", 1.2), ("platelets", "<=", 75.0)),
                        "Day 8/15: ANC 1000-1199/mm3 or platelets 50,000-75,000/mm3: 75 %",
                    ),
                ),
                source=_GEM_OLD,
                days=(8, 15),
            ),
            ActiveHold(
                "GEM-NONHAEM-HOLD",
                "non_haem_g34_unresolved_except_nv_alopecia",
                "grade 3-4 non-haematological toxicity (except alopecia, nausea, vomiting): withhold until resolved",
                _GEM,
            ),
        ),
    ),
    "vinorelbine": DrugRules(
        drug="vinorelbine",
        source="Vinorelbine (Navelbine) PI sections 2.2-2.3",
        required_labs=("anc",),
        below_lowest=f"no further reduction defined: discontinue ({_VIN})",
        rows=(
            LabBands(
                "VIN-ANC",
                rows=(
                    Band("VIN-ANC-HOLD", 0.0, (("anc", "<", 1.0),), "ANC < 1000/mm3: hold, repeat in 1 week"),
                    Band("VIN-ANC-50", 50.0, (("anc", "<", 1.5),), "ANC 1000-1499/mm3: 50 %"),
                ),
                source=_VIN,
            ),
            LabBands(
                "VIN-HEP",
                rows=(
                    Band("VIN-BILI-25", 25.0, (("bilirubin_mg_dl", ">", 3.0),), "total bilirubin > 3.0 mg/dL: 25 %"),
                    Band("VIN-BILI-50", 50.0, (("bilirubin_mg_dl", ">", 2.0),), "total bilirubin 2.1-3.0 mg/dL: 50 %"),
                ),
                source=_VIN_HEP,
                relative_to="start",
            ),
            ReduceToLevel(
                "VIN-FN",
                "neutropenic_fever_or_sepsis",
                -1,
                "fever and/or sepsis while neutropenic: 75 % (37.5 % if ANC 1000-1499/mm3)",
                _VIN,
            ),
            ConsecutiveHolds(
                "VIN-HOLDS",
                reduce_at=2,
                level=-1,
                discontinue_at=3,
                text="2 consecutive weekly doses held: 75 % (37.5 % if ANC 1000-1499/mm3); 3 consecutive "
                "weekly doses held: discontinue",
                source=_VIN,
            ),
        ),
    ),
}


def rules_for(regimen: Regimen) -> DrugRules:
    """The rule table of ``regimen.drug`` (DoseModificationError for a drug without one)."""
    try:
        return RULES[regimen.drug.casefold()]
    except KeyError:
        raise DoseModificationError(
            f"no dose-modification rules for drug {regimen.drug!r} of regimen {regimen.id!r} "
            f"(drugs with rules: {', '.join(RULES)})"
        ) from None


# ---- decision --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleFinding:
    """A rule that changed today's decision: its id, what it did, why, and where the rule comes from."""

    rule_id: str
    effect: Literal["hold", "omit", "reduce", "percent", "cap", "discontinue"]
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class DoseDecision:
    """What to do at one scheduled administration.

    ``level``: the level in force after this decision (the level given today, or to resume at after a hold;
    None after discontinuation). ``dose``: the amount given today in ``unit`` (0 when nothing is given);
    ``percent``: of the level's dose given today; ``level_dose``: the full dose at ``level``. ``unchecked``:
    rules skipped because an optional lab was missing.
    """

    action: DoseAction
    regimen_id: str
    drug: str
    cycle: int
    day: int
    previous_level: int
    level: int | None
    dose: float
    unit: DoseUnit
    percent: float
    level_dose: float | None
    findings: tuple[RuleFinding, ...]
    unchecked: tuple[str, ...] = ()
    default_source: str = ""

    @property
    def given(self) -> bool:
        return self.action in (DoseAction.GIVE, DoseAction.REDUCE)

    @property
    def reason(self) -> str:
        if not self.findings:
            return f"no dose-modification rule applies: give at level {self.level}"
        return "; ".join(f"[{f.rule_id}] {f.reason}" for f in self.findings)

    @property
    def source(self) -> str:
        if not self.findings:
            return self.default_source
        return "; ".join(dict.fromkeys(f.source for f in self.findings))

    def to_data(self) -> dict[str, Any]:
        """Plain data (for JSON output and audit rows)."""
        return {
            "action": self.action.value,
            "regimen": self.regimen_id,
            "drug": self.drug,
            "cycle": self.cycle,
            "day": self.day,
            "previous_level": self.previous_level,
            "level": self.level,
            "dose": self.dose,
            "unit": self.unit.value,
            "percent": self.percent,
            "level_dose": self.level_dose,
            "reason": self.reason,
            "source": self.source,
            "findings": [
                {"rule": f.rule_id, "effect": f.effect, "reason": f.reason, "source": f.source} for f in self.findings
            ],
            "unchecked": list(self.unchecked),
        }


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _lab_toxicities(labs: Labs, cycle: int, day: int) -> list[ToxicityEvent]:
    """Today's labs as toxicities of their CTCAE grade (grade >= 2 only; grade 0/1 never changes a dose)."""
    out: list[ToxicityEvent] = []
    for name, term in _LAB_TERM:
        value = getattr(labs, name)
        if value is None:
            continue
        grade = grade_lab_canonical(term, value)
        if grade >= 2:
            out.append(ToxicityEvent(term, grade, cycle, day))
    return out


def _describe(event: ToxicityEvent) -> str:
    return f"{event.name} grade {event.grade} (C{event.cycle}D{event.day})"


def evaluate_dose(
    regimen: Regimen,
    cycle: int,
    day: int,
    labs: Labs,
    toxicity_history: Sequence[ToxicityEvent],
    current_level: int,
    *,
    delay_days: int = 0,
    consecutive_holds: int = 0,
) -> DoseDecision:
    """Decide the dose of ``regimen`` at its scheduled administration (``cycle``, ``day``).

    ``day`` must be one of ``regimen.dosing_days``; a dose re-evaluated after a hold keeps its scheduled
    (cycle, day) and passes ``delay_days`` (days since the scheduled day; eribulin Day 8 allows 7).
    ``consecutive_holds``: administrations held in a row just before this one (vinorelbine).

    Precedence: discontinue > omit > hold > reduce > give. Rules per drug in ``RULES`` (Trodelvy US PI
    Tables 1–2; Halaven US PI 2.2–2.3; capecitabine PI 4.2; Gemzar/Pfizer gemcitabine PI; vinorelbine PI 2.2–2.3).
    """
    rules = rules_for(regimen)
    _check_call(regimen, cycle, day, current_level, delay_days, consecutive_holds)
    for name in rules.required_labs:
        if getattr(labs, name) is None:
            raise DoseModificationError(
                f"{regimen.drug}: labs.{name} ({_LAB_UNIT[name]}) is needed to decide the C{cycle}D{day} dose"
            )
    now = (cycle, day)
    events: list[ToxicityEvent] = []
    for e in toxicity_history:
        if not isinstance(e, ToxicityEvent):
            raise DoseModificationError(f"toxicity history items must be ToxicityEvent, got {type(e).__name__}")
        if (e.cycle, e.day) <= now:
            events.append(e)
    events.sort(key=lambda e: (e.cycle, e.day))

    findings: list[RuleFinding] = []
    unchecked: list[str] = []
    start = 0
    implied_floor = 0  # lowest level from "reduce to" and ladder rules
    discontinue: RuleFinding | None = None
    per_occurrence = [r for r in rules.rows if isinstance(r, ReducePerOccurrence)]

    # 1. starting-level caps
    for row in rules.rows:
        if isinstance(row, LabLevelCap):
            value = getattr(labs, row.lab)
            if value is None:
                unchecked.append(row.id)
            elif row.at_least <= value < row.below and row.level < start:
                start = row.level
                if row.level < current_level:
                    findings.append(RuleFinding(row.id, "cap", row.text, row.source))

    # 2. occurrences: one level per matching event
    count = 0
    triggered_cycles: set[int] = set()
    for event in events:
        for row in per_occurrence:
            if PREDICATES[row.predicate](event):
                count += 1
                triggered_cycles.add(event.cycle)
                if start - count < current_level:
                    findings.append(RuleFinding(row.id, "reduce", f"{row.text}: {_describe(event)}", row.source))
                break

    # 3. "reduce to" targets and ladders
    for row in rules.rows:
        if isinstance(row, ReduceToLevel):
            hit = next((e for e in events if PREDICATES[row.predicate](e)), None)
            if hit is not None and row.level < implied_floor:
                implied_floor = row.level
                if row.level < current_level:
                    findings.append(RuleFinding(row.id, "reduce", f"{row.text}: {_describe(hit)}", row.source))
        elif isinstance(row, ConsecutiveHolds):
            if consecutive_holds >= row.reduce_at and row.level < implied_floor:
                implied_floor = row.level
                if row.level < current_level:
                    reason = f"{row.text} ({consecutive_holds} held in a row)"
                    findings.append(RuleFinding(row.id, "reduce", reason, row.source))
        elif isinstance(row, GradeLadder):
            target, finding = _ladder(row, events, current_level)
            if finding is not None:
                if target is None:
                    discontinue = finding
                else:
                    implied_floor = min(implied_floor, target)
                    findings.append(finding)

    implied = min(start - count, implied_floor)

    # 4. holds and same-day percentages
    holds: list[RuleFinding] = []
    current_tox: list[ToxicityEvent] | None = None
    pct_level = 100.0
    pct_start = 100.0
    delayed_row: DelayedDay | None = None
    for row in rules.rows:
        if isinstance(row, LabHold):
            if (row.days is None or day in row.days) and (not row.first_cycle_only or cycle == 1):
                value = getattr(labs, row.lab)
                if value is None:
                    unchecked.append(row.id)
                elif value < row.below:
                    holds.append(RuleFinding(row.id, "hold", f"{row.text} ({row.lab} {value:g})", row.source))
        elif isinstance(row, ActiveHold):
            if current_tox is None:
                current_tox = [e for e in events if e.now >= 2] + _lab_toxicities(labs, cycle, day)
            predicate = ACTIVE_PREDICATES[row.predicate]
            hit = next((e for e in current_tox if predicate(e)), None)
            if hit is not None:
                holds.append(
                    RuleFinding(row.id, "hold", f"{row.text}: {_describe(hit)} now grade {hit.now}", row.source)
                )
        elif isinstance(row, LabBands):
            if row.days is not None and day not in row.days:
                continue
            band, missing = _band(row, labs)
            if missing:
                unchecked.append(row.id)
            if band is None:
                continue
            if band.percent == 0:
                holds.append(RuleFinding(band.id, "hold", band.text, row.source))
            elif row.relative_to == "level":
                pct_level = min(pct_level, band.percent)
                findings.append(RuleFinding(band.id, "percent", band.text, row.source))
            else:
                pct_start = min(pct_start, band.percent)
                findings.append(RuleFinding(band.id, "percent", f"{band.text} of the starting dose", row.source))
        elif isinstance(row, DelayedDay) and day == row.day:
            delayed_row = row

    # 5. delayed-day rule (eribulin Day 8)
    omit: RuleFinding | None = None
    if delayed_row is not None and delay_days > 0:
        extra = 0 if cycle in triggered_cycles else 1
        if holds and delay_days >= delayed_row.max_delay_days:
            omit = RuleFinding(
                delayed_row.id,
                "omit",
                f"not recovered {delay_days} days after Day {delayed_row.day}: omit this dose; the omission "
                "permanently reduces the next cycle",
                delayed_row.source,
            )
            implied -= extra
        elif not holds:
            implied -= extra
            findings.append(
                RuleFinding(
                    delayed_row.id,
                    "reduce",
                    f"Day {delayed_row.day} dose delayed {delay_days} days: give at a reduced dose; start the next "
                    "cycle no sooner than 2 weeks later",
                    delayed_row.source,
                )
            )

    # 6. consecutive holds → discontinue
    if holds and omit is None:
        for row in rules.rows:
            if isinstance(row, ConsecutiveHolds) and consecutive_holds + 1 >= row.discontinue_at:
                reason = f"{row.text} (this would be hold number {consecutive_holds + 1} in a row)"
                discontinue = discontinue or RuleFinding(row.id, "discontinue", reason, row.source)

    if discontinue is None and implied < regimen.lowest_level:
        reason = f"required level {implied} is below the lowest level {regimen.lowest_level}: {rules.below_lowest}"
        discontinue = RuleFinding("LADDER-END", "discontinue", reason, rules.source)

    def decide(action: DoseAction, level: int | None, percent: float, extra: tuple[RuleFinding, ...]) -> DoseDecision:
        level_dose = None if level is None else regimen.level_amount(level)
        return DoseDecision(
            action=action,
            regimen_id=regimen.id,
            drug=regimen.drug,
            cycle=cycle,
            day=day,
            previous_level=current_level,
            level=level,
            dose=0.0 if level_dose is None else level_dose * percent / 100.0,
            unit=regimen.dose.unit,
            percent=percent,
            level_dose=level_dose,
            findings=(*findings, *extra),
            unchecked=tuple(unchecked),
            default_source=rules.source,
        )

    if discontinue is not None:
        return decide(DoseAction.DISCONTINUE, None, 0.0, (*holds, discontinue))
    level = min(current_level, implied)
    if omit is not None:
        return decide(DoseAction.OMIT, level, 0.0, (*holds, omit))
    if holds:
        return decide(DoseAction.HOLD, level, 0.0, tuple(holds))
    percent = pct_level
    if pct_start < 100.0:
        percent = min(percent, pct_start * regimen.dose.amount / regimen.level_amount(level))
    action = DoseAction.REDUCE if level < current_level else DoseAction.GIVE
    return decide(action, level, min(percent, 100.0), ())


def _check_call(
    regimen: Regimen, cycle: int, day: int, current_level: int, delay_days: int, consecutive_holds: int
) -> None:
    for name, value, low in (
        ("cycle", cycle, 1),
        ("day", day, 1),
        ("delay_days", delay_days, 0),
        ("consecutive_holds", consecutive_holds, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DoseModificationError(f"{name} must be an integer >= {low}, got {value!r}")
    if day not in regimen.dosing_days:
        days = ", ".join(str(d) for d in regimen.dosing_days)
        raise DoseModificationError(
            f"day {day} is not a dosing day of regimen {regimen.id!r} (days {days} of a "
            f"{regimen.cycle_length_days}-day cycle)"
        )
    if (
        isinstance(current_level, bool)
        or not isinstance(current_level, int)
        or not (regimen.lowest_level <= current_level <= 0)
    ):
        raise DoseModificationError(
            f"current level {current_level!r} is not a level of regimen {regimen.id!r} "
            f"(levels 0 to {regimen.lowest_level})"
        )


def _band(row: LabBands, labs: Labs) -> tuple[Band | None, bool]:
    """The first matching row of a same-day table, and whether a lab it reads was missing."""
    missing = False
    for band in row.rows:
        for lab, op, bound in band.any_of:
            value = getattr(labs, lab)
            if value is None:
                missing = True
            elif _OPS[op](value, bound):
                return band, missing
    return None, missing


def _ladder(
    row: GradeLadder, events: Iterable[ToxicityEvent], current_level: int
) -> tuple[int | None, RuleFinding | None]:
    """Lowest ladder target over the history (None: discontinue) and the finding explaining it, if it is below
    ``current_level`` or a discontinuation."""
    steps = dict(row.steps)
    top = max(steps)
    exempt = frozenset(t.casefold() for t in row.exempt)
    seen: dict[tuple[str, int], int] = {}
    lowest: int | None = 0
    worst: ToxicityEvent | None = None
    worst_n = 0
    for event in events:
        key_name = event.name.casefold()
        if key_name in exempt or event.grade < 2:
            continue
        if event.haematological and event.grade < row.haematological_from:
            continue
        grade = min(event.grade, top)
        n = seen.get((key_name, grade), 0) + 1
        seen[(key_name, grade)] = n
        ladder = steps.get(grade, ())
        target = ladder[n - 1] if n <= len(ladder) else None
        if target is None:
            return None, RuleFinding(
                row.id,
                "discontinue",
                f"{_describe(event)}: appearance {n} of grade {grade}: discontinue permanently",
                row.source,
            )
        if lowest is not None and target < lowest:
            lowest, worst, worst_n = target, event, n
    if worst is None or lowest is None or lowest >= current_level:
        return lowest, None
    reason = f"{_describe(worst)}: appearance {worst_n} of grade {min(worst.grade, top)}: level {lowest}"
    return lowest, RuleFinding(row.id, "reduce", reason, row.source)
