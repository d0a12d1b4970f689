"""Body-surface area and dose amounts in mg for a regimen at a dose level. Pure: numbers in, numbers out.

Rounding rules (``ROUNDING``; one row per drug, a default row for the rest):

* Parenteral doses (IV, SC) and oral doses without a tablet rule: the amount per administration is rounded to
  the nearest 0.1 mg, halves up (700.04 mg → 700.0 mg, 2.548 mg → 2.5 mg, 512.25 mg → 512.3 mg).
* Capecitabine (150 mg and 500 mg tablets): the amount per administration is rounded **down** to the largest
  amount that 150 mg and 500 mg tablets can make (2275 mg → 2250 mg = 3 x 500 + 5 x 150), using the fewest
  tablets for that amount; the daily total is that amount times ``times_per_day`` (twice daily: 4500 mg). The
  label's BSA-band table can differ from this by one tablet step; rounding down never exceeds the computed dose.

BSA is computed unrounded (Mosteller by default) and, when ``bsa_cap`` is given, capped at it (e.g. 2.0 m²;
off by default). Weight-based doses (mg/kg) use actual body weight and are never capped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.protocol.model import Regimen
from trialtwin.protocol.units import DoseUnit

__all__ = [
    "ROUNDING",
    "BsaMethod",
    "DoseAmount",
    "DosingError",
    "compute_bsa",
    "compute_dose",
    "compute_tablets",
]

#: Plausible ranges; anything outside is almost always a unit mistake (height in m, weight in lb).
WEIGHT_RANGE_KG = (0.0, 500.0)
HEIGHT_RANGE_CM = (30.0, 300.0)

#: drug (or "*" for every other drug), tablet strengths in mg (empty: no tablet rule), rule text.
ROUNDING: tuple[tuple[str, tuple[int, ...], str], ...] = (
    (
        "capecitabine",
        (500, 150),
        "per administration rounded down to a combination of 500 mg and 150 mg tablets (fewest tablets)",
    ),
    ("*", (), "per administration rounded to the nearest 0.1 mg (halves up)"),
)
_ROUNDING: dict[str, tuple[tuple[int, ...], str]] = {drug: (tabs, text) for drug, tabs, text in ROUNDING}


class DosingError(TrialtwinError):
    """Impossible dosing input: non-positive or implausible weight/height, unknown level, no BSA for mg/m²."""


class BsaMethod(StrEnum):
    MOSTELLER = "mosteller"
    DUBOIS = "dubois"


def _check(name: str, value: float, bounds: tuple[float, float], unit: str) -> float:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DosingError(f"{name} must be a number in {unit}, got {value!r}")
    if not low < value <= high:
        raise DosingError(f"{name} must be above {low:g} and at most {high:g} {unit}, got {value:g}")
    return float(value)


def compute_bsa(weight_kg: float, height_cm: float, *, method: str = "mosteller") -> float:
    """Body-surface area in m², unrounded.

    * ``mosteller``: sqrt(weight_kg x height_cm / 3600) (Mosteller RD, N Engl J Med 1987;317:1098).
    * ``dubois``: 0.007184 x weight_kg^0.425 x height_cm^0.725 (Du Bois D, Du Bois EF, Arch Intern Med
      1916;17:863).

    >>> round(compute_bsa(70, 170), 2)
    1.82
    """
    weight = _check("weight_kg", weight_kg, WEIGHT_RANGE_KG, "kg")
    height = _check("height_cm", height_cm, HEIGHT_RANGE_CM, "cm")
    try:
        how = BsaMethod(method)
    except ValueError:
        known = ", ".join(m.value for m in BsaMethod)
        raise DosingError(f"unknown BSA method {method!r} (known: {known})") from None
    if how is BsaMethod.MOSTELLER:
        return math.sqrt(weight * height / 3600.0)
    return float(0.007184 * weight**0.425 * height**0.725)


@dataclass(frozen=True, slots=True)
class DoseAmount:
    """A dose in mg for one patient: the regimen-unit dose at a level (and same-day percent), what it was
    multiplied by, and the rounded amount per administration and per day."""

    regimen_id: str
    drug: str
    level: int
    percent: float  # of the level's dose (100 = full)
    dose: float  # in ``unit`` after level and percent, e.g. 7.5 mg/kg
    unit: DoseUnit
    weight_kg: float
    bsa_m2: float | None  # BSA used for the dose (after any cap); None when not computed
    bsa_capped: bool
    calculated_mg: float  # before rounding, per administration
    per_administration_mg: float
    times_per_day: int
    per_day_mg: float
    tablets: tuple[tuple[int, int], ...]  # (strength mg, count) per administration; () when not tablets
    rounding: str


def compute_tablets(target_mg: float, strengths: tuple[int, ...]) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The largest amount <= ``target_mg`` that tablets of ``strengths`` make, with the fewest tablets.

    Returns ``(amount_mg, ((strength, count), ...))`` (strengths largest first; counts may be 0).

    >>> compute_tablets(2275, (500, 150))
    (2250, ((500, 3), (150, 5)))
    """
    target = math.floor(target_mg + 1e-9)
    ordered = tuple(sorted(strengths, reverse=True))
    best: tuple[int, int, tuple[int, ...]] = (0, 0, tuple(0 for _ in ordered))

    def search(i: int, left: int, counts: tuple[int, ...]) -> None:
        nonlocal best
        if i == len(ordered) - 1:
            n = left // ordered[i]
            full = (*counts, n)
            amount = target - left + n * ordered[i]
            tablets = sum(full)
            if amount > best[0] or (amount == best[0] and tablets < best[1]):
                best = (amount, tablets, full)
            return
        for n in range(left // ordered[i], -1, -1):
            search(i + 1, left - n * ordered[i], (*counts, n))

    search(0, target, ())
    return best[0], tuple(zip(ordered, best[2], strict=True))


def _round_tenth(mg: float) -> float:
    return float(Decimal(repr(mg)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def compute_dose(
    regimen: Regimen,
    weight_kg: float,
    height_cm: float | None = None,
    *,
    level: int = 0,
    percent: float = 100.0,
    method: str = "mosteller",
    bsa_cap: float | None = None,
) -> DoseAmount:
    """Dose in mg per administration and per day for ``regimen`` at ``level`` (``Regimen.level_amount``).

    mg/kg doses multiply by ``weight_kg``, mg/m² doses by the BSA (``compute_bsa(weight_kg, height_cm,
    method=method)``, capped at ``bsa_cap`` when given), flat mg doses by nothing. ``percent`` scales the
    level's dose for a same-day adjustment (gemcitabine Day-8 75 %, vinorelbine 50 %). Rounding follows
    ``ROUNDING`` (module docstring). Sources: the regimen's ``source`` (dose, ladder); Mosteller 1987; Du Bois
    1916.

    >>> from trialtwin.protocol import load_protocol
    >>> compute_dose(load_protocol("ever-132-002").regimen("sg"), 70, 170, level=-1).per_administration_mg
    525.0
    """
    weight = _check("weight_kg", weight_kg, WEIGHT_RANGE_KG, "kg")
    pct = _check("percent", percent, (0.0, 100.0), "%")
    try:
        level_dose = regimen.level_amount(level)
    except KeyError:
        levels = ", ".join(str(lv.level) for lv in regimen.dose_levels) or "0"
        raise DosingError(f"regimen {regimen.id!r} has no dose level {level} (levels: {levels})") from None
    dose = level_dose * pct / 100.0
    bsa: float | None = None
    capped = False
    if height_cm is not None:
        bsa = compute_bsa(weight, height_cm, method=method)
    if bsa_cap is not None:
        cap = _check("bsa_cap", bsa_cap, (0.0, 5.0), "m2")
        if bsa is not None and bsa > cap:
            bsa, capped = cap, True
    basis = regimen.dose.unit.basis
    if basis == "weight":
        calculated = dose * weight
    elif basis == "bsa":
        if bsa is None:
            raise DosingError(f"regimen {regimen.id!r} is dosed in {regimen.dose.unit}; height_cm is needed")
        calculated = dose * bsa
    else:
        calculated = dose
    strengths, rule = _ROUNDING.get(regimen.drug.casefold(), _ROUNDING["*"])
    tablets: tuple[tuple[int, int], ...] = ()
    if strengths:
        amount, tablets = compute_tablets(calculated, strengths)
        if amount <= 0:
            raise DosingError(f"{regimen.drug}: {calculated:.1f} mg is below the smallest tablet ({min(strengths)} mg)")
        per_admin = float(amount)
    else:
        per_admin = _round_tenth(calculated)
    times = regimen.dose.times_per_day
    return DoseAmount(
        regimen_id=regimen.id,
        drug=regimen.drug,
        level=level,
        percent=pct,
        dose=dose,
        unit=regimen.dose.unit,
        weight_kg=weight,
        bsa_m2=bsa,
        bsa_capped=capped,
        calculated_mg=calculated,
        per_administration_mg=per_admin,
        times_per_day=times,
        per_day_mg=_round_tenth(per_admin * times),
        tablets=tablets,
        rounding=rule,
    )
