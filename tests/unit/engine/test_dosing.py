"""Body-surface area and dose amounts (issue 3, point 4): reference BSA values, mg/kg and mg/m² doses at every
ladder level of the EVER-132-002 regimens, rounding rules, BSA cap, and clear errors."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from trialtwin.engine.dosing import DosingError, compute_bsa, compute_dose, compute_tablets
from trialtwin.protocol import Protocol
from trialtwin.protocol.errors import TrialtwinError

BSA_REFERENCE = [
    # Mosteller RD, N Engl J Med 1987;317:1098: sqrt(W x H / 3600)
    pytest.param(70, 170, "mosteller", math.sqrt(70 * 170 / 3600), id="mosteller-70kg-170cm"),
    pytest.param(80, 180, "mosteller", 2.0, id="mosteller-80kg-180cm-exactly-2"),
    pytest.param(50, 150, "mosteller", math.sqrt(50 * 150 / 3600), id="mosteller-50kg-150cm"),
    # Du Bois D, Du Bois EF, Arch Intern Med 1916;17:863: 0.007184 x W^0.425 x H^0.725
    pytest.param(70, 170, "dubois", 0.007184 * 70**0.425 * 170**0.725, id="dubois-70kg-170cm"),
    pytest.param(100, 190, "dubois", 0.007184 * 100**0.425 * 190**0.725, id="dubois-100kg-190cm"),
]


@pytest.mark.parametrize(("weight", "height", "method", "expected"), BSA_REFERENCE)
def test_bsa_reference_values(weight: float, height: float, method: str, expected: float) -> None:
    """BSA formulas (Mosteller 1987; Du Bois 1916) reproduce their defining expressions."""
    assert compute_bsa(weight, height, method=method) == pytest.approx(expected, rel=1e-12)


def test_bsa_rounded_reference_values() -> None:
    """Mosteller 70 kg, 170 cm → 1.82 m² (issue 3 reference); DuBois 70 kg, 170 cm → 1.81 m² (DuBois table)."""
    assert round(compute_bsa(70, 170), 2) == 1.82
    assert round(compute_bsa(70, 170, method="dubois"), 2) == 1.81


DOSES = [
    # sacituzumab govitecan 10 -> 7.5 -> 5 mg/kg (Trodelvy US PI Table 1), 70 kg; IV: 0.1 mg rounding
    pytest.param("sg", 0, 100.0, 700.0, 700.0, id="sg-level-0-10mgkg-700mg"),
    pytest.param("sg", -1, 100.0, 525.0, 525.0, id="sg-level-1-7.5mgkg-525mg"),
    pytest.param("sg", -2, 100.0, 350.0, 350.0, id="sg-level-2-5mgkg-350mg"),
    # eribulin mesylate 1.4 -> 1.1 -> 0.7 mg/m2 (Halaven US PI 2.2), BSA 1.8181 m2
    pytest.param("eribulin", 0, 100.0, 2.5, 2.5, id="eribulin-level-0-1.4mgm2-2.5mg"),
    pytest.param("eribulin", -1, 100.0, 2.0, 2.0, id="eribulin-level-1-1.1mgm2-2.0mg"),
    pytest.param("eribulin", -2, 100.0, 1.3, 1.3, id="eribulin-level-2-0.7mgm2-1.3mg"),
    # capecitabine 1250 mg/m2 twice daily, 100/75/50 % (capecitabine PI); tablets 500/150 mg, rounded down
    pytest.param("capecitabine", 0, 100.0, 2250.0, 4500.0, id="capecitabine-100pct-2250mg-bid"),
    pytest.param("capecitabine", -1, 100.0, 1700.0, 3400.0, id="capecitabine-75pct-1700mg-bid"),
    pytest.param("capecitabine", -2, 100.0, 1100.0, 2200.0, id="capecitabine-50pct-1100mg-bid"),
    # gemcitabine 1000 mg/m2 (protocol default), Day-8 75 % / 50 % (Gemzar breast table)
    pytest.param("gemcitabine", 0, 100.0, 1818.1, 1818.1, id="gemcitabine-1000mgm2-1818.1mg"),
    pytest.param("gemcitabine", 0, 75.0, 1363.6, 1363.6, id="gemcitabine-day8-75pct-1363.6mg"),
    pytest.param("gemcitabine", 0, 50.0, 909.1, 909.1, id="gemcitabine-day8-50pct-909.1mg"),
    # vinorelbine 25 mg/m2 weekly; 75 % level; 50 % same-day (vinorelbine PI)
    pytest.param("vinorelbine", 0, 100.0, 45.5, 45.5, id="vinorelbine-25mgm2-45.5mg"),
    pytest.param("vinorelbine", -1, 100.0, 34.1, 34.1, id="vinorelbine-75pct-34.1mg"),
    pytest.param("vinorelbine", -1, 50.0, 17.0, 17.0, id="vinorelbine-37.5pct-17.0mg"),
]


@pytest.mark.parametrize(("regimen_id", "level", "percent", "per_admin", "per_day"), DOSES)
def test_dose_amounts(
    ever: Protocol, regimen_id: str, level: int, percent: float, per_admin: float, per_day: float
) -> None:
    """Dose in mg for a 70 kg, 170 cm patient (Mosteller BSA 1.8181 m²) at each ladder level; sources: the
    regimen's label (Trodelvy US PI Table 1; Halaven US PI 2.2; capecitabine, Gemzar, vinorelbine PIs)."""
    amount = compute_dose(ever.regimen(regimen_id), 70, 170, level=level, percent=percent)
    assert amount.per_administration_mg == per_admin
    assert amount.per_day_mg == per_day
    assert amount.per_administration_mg <= amount.calculated_mg + 0.05


def test_capecitabine_tablets_and_twice_daily_total(ever: Protocol) -> None:
    """Capecitabine 1250 mg/m² BID × 1.8181 m² = 2272.6 mg → 2250 mg = 3 × 500 + 5 × 150 mg, 4500 mg/day."""
    amount = compute_dose(ever.regimen("capecitabine"), 70, 170)
    assert amount.calculated_mg == pytest.approx(1250 * math.sqrt(70 * 170 / 3600))
    assert amount.tablets == ((500, 3), (150, 5))
    assert amount.times_per_day == 2
    assert amount.per_day_mg == 2 * amount.per_administration_mg == 4500.0
    assert "rounded down" in amount.rounding


TABLETS = [
    pytest.param(2275, 2250, ((500, 3), (150, 5)), id="2275-down-to-2250"),
    pytest.param(2300, 2300, ((500, 4), (150, 2)), id="2300-exact"),
    pytest.param(1500, 1500, ((500, 3), (150, 0)), id="1500-fewest-tablets-3x500-not-10x150"),
    pytest.param(1149.99, 1100, ((500, 1), (150, 4)), id="1149.99-down-to-1100"),
    pytest.param(149, 0, ((500, 0), (150, 0)), id="below-smallest-tablet-0"),
]


@pytest.mark.parametrize(("target", "amount", "tablets"), TABLETS)
def test_tablet_rounding(target: float, amount: int, tablets: tuple[tuple[int, int], ...]) -> None:
    """Capecitabine rounding: the largest amount <= the dose that 500/150 mg tablets make, fewest tablets."""
    assert compute_tablets(target, (500, 150)) == (amount, tablets)


def test_iv_rounding_to_a_tenth_halves_up(ever: Protocol) -> None:
    """IV doses round to the nearest 0.1 mg, halves up: 7.5 mg/kg × 68.3 kg = 512.25 mg → 512.3 mg."""
    amount = compute_dose(ever.regimen("sg"), 68.3, 170, level=-1)
    assert amount.calculated_mg == pytest.approx(512.25)
    assert amount.per_administration_mg == 512.3


def test_bsa_cap(ever: Protocol) -> None:
    """BSA cap (off by default): 100 kg, 190 cm (Mosteller 2.297 m²) capped at 2.0 m² for mg/m² doses only."""
    gem = ever.regimen("gemcitabine")
    uncapped = compute_dose(gem, 100, 190)
    capped = compute_dose(gem, 100, 190, bsa_cap=2.0)
    assert uncapped.per_administration_mg == 2297.3 and not uncapped.bsa_capped
    assert capped.per_administration_mg == 2000.0 and capped.bsa_capped and capped.bsa_m2 == 2.0
    assert compute_dose(gem, 60, 160, bsa_cap=2.0).bsa_capped is False
    assert compute_dose(ever.regimen("sg"), 100, 190, bsa_cap=2.0).per_administration_mg == 1000.0


def test_dubois_method_changes_bsa_doses(ever: Protocol) -> None:
    """The BSA method is an option: DuBois 100 kg, 190 cm = 2.2830 m² → vinorelbine 57.1 mg."""
    amount = compute_dose(ever.regimen("vinorelbine"), 100, 190, method="dubois")
    assert amount.bsa_m2 == pytest.approx(0.007184 * 100**0.425 * 190**0.725)
    assert amount.per_administration_mg == 57.1


def test_weight_based_dose_needs_no_height(ever: Protocol) -> None:
    """mg/kg doses multiply actual body weight; no height, no BSA."""
    amount = compute_dose(ever.regimen("sg"), 82.4)
    assert amount.per_administration_mg == 824.0
    assert amount.bsa_m2 is None


ERRORS: list[object] = [
    pytest.param(lambda p: compute_bsa(-70, 170), "weight_kg must be above 0", id="negative-weight"),
    pytest.param(lambda p: compute_bsa(0, 170), "weight_kg must be above 0", id="zero-weight"),
    pytest.param(lambda p: compute_bsa(70, 1.7), "height_cm must be above 30", id="height-in-metres"),
    pytest.param(lambda p: compute_bsa(700, 170), "at most 500 kg", id="implausible-weight"),
    pytest.param(lambda p: compute_bsa(float("nan"), 170), "weight_kg must be a number", id="nan-weight"),
    pytest.param(lambda p: compute_bsa(70, 170, method="haycock"), "unknown BSA method", id="unknown-method"),
    pytest.param(lambda p: compute_dose(p.regimen("sg"), 70, level=-3), "has no dose level -3", id="bad-level"),
    pytest.param(lambda p: compute_dose(p.regimen("eribulin"), 70), "height_cm is needed", id="mgm2-no-height"),
    pytest.param(lambda p: compute_dose(p.regimen("sg"), 70, percent=0), "percent must be above 0", id="pct-0"),
    pytest.param(lambda p: compute_dose(p.regimen("sg"), 70, percent=120), "at most 100", id="pct-120"),
    pytest.param(lambda p: compute_dose(p.regimen("sg"), 70, bsa_cap=-1), "bsa_cap must be above 0", id="cap"),
    pytest.param(
        lambda p: compute_dose(p.regimen("capecitabine"), 35, 140, level=-2, percent=10),
        "below the smallest tablet",
        id="capecitabine-below-one-tablet",
    ),
]


@pytest.mark.parametrize(("call", "message"), ERRORS)
def test_errors(ever: Protocol, call: Callable[[Protocol], object], message: str) -> None:
    """Impossible input raises DosingError (a TrialtwinError: the CLI exits 2) naming the field and value."""
    with pytest.raises(DosingError) as info:
        call(ever)
    assert isinstance(info.value, TrialtwinError)
    assert message in str(info.value)
