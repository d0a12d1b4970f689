"""Spending functions (trialtwin.design.spending): closed forms by hand, shape properties, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialtwin.design import (
    DesignInputError,
    HwangShihDeCaniSpending,
    OBrienFlemingForm,
    OBrienFlemingSpending,
    PocockSpending,
    PowerSpending,
    SpendingFunction,
    parse_spending,
)
from trialtwin.protocol.errors import TrialtwinError

ALL: list[SpendingFunction] = [
    OBrienFlemingSpending(),
    OBrienFlemingSpending(OBrienFlemingForm.TWO_SIDED_HALF),
    PocockSpending(),
    HwangShihDeCaniSpending(-4.0),
    HwangShihDeCaniSpending(0.0),
    HwangShihDeCaniSpending(1.0),
    PowerSpending(1.0),
    PowerSpending(3.0),
]


@pytest.mark.parametrize(
    ("function", "t", "expected"),
    [
        pytest.param(
            OBrienFlemingSpending(), 0.5, 0.0015253227579887785, id="obf-one-sided: 2(1-Phi(z_.9875/sqrt(.5)))"
        ),
        pytest.param(OBrienFlemingSpending(), 0.25, 7.36680843571591e-06, id="obf-one-sided: t=0.25"),
        pytest.param(
            OBrienFlemingSpending(OBrienFlemingForm.TWO_SIDED_HALF),
            0.5,
            0.0027872983403922635,
            id="obf-two-sided-half: 1-Phi(z_.975/sqrt(.5))",
        ),
        pytest.param(PocockSpending(), 0.5, 0.015502862673956938, id="pocock: a ln(1+(e-1)/2)"),
        pytest.param(HwangShihDeCaniSpending(-4.0), 0.5, 0.0029800730505529396, id="hsd-4: a(1-e^2)/(1-e^4)"),
        pytest.param(HwangShihDeCaniSpending(1.0), 0.5, 0.015561483280046366, id="hsd+1: a(1-e^-.5)/(1-e^-1)"),
        pytest.param(HwangShihDeCaniSpending(0.0), 0.3, 0.0075, id="hsd0-is-linear: a t"),
        pytest.param(PowerSpending(3.0), 0.5, 0.003125, id="kim-demets-rho3: a t^3"),
        pytest.param(PowerSpending(1.0), 0.4, 0.01, id="linear: a t"),
    ],
)
def test_closed_form_by_hand(function: SpendingFunction, t: float, expected: float) -> None:
    """Values computed by hand from the formulas in the module table (Lan & DeMets 1983; Hwang, Shih & DeCani
    1990; Kim & DeMets 1987) at total a = 0.025 (z_{0.9875} = 2.241403, z_{0.975} = 1.959964)."""
    assert float(function.spend(t, 0.025)[()]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.label)
def test_spends_nothing_at_zero_and_all_at_one(function: SpendingFunction) -> None:
    """Lan & DeMets (1983): f(0) = 0 and f(1) = total, for alpha (0.025) and beta (0.1) totals."""
    for total in (0.025, 0.1):
        out = function.spend([0.0, 1.0], total)
        assert out[0] == 0.0
        assert out[1] == pytest.approx(total, rel=1e-13)


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.label)
def test_vectorized_and_increasing(function: SpendingFunction) -> None:
    """spend is vectorized (shape kept) and strictly increasing on (0, 1]."""
    t = np.linspace(0.05, 1.0, 20)
    out = function.spend(t, 0.025)
    assert out.shape == t.shape
    assert np.all(np.diff(out) > 0)
    assert function.spend(t.reshape(4, 5), 0.025).shape == (4, 5)


def test_obrien_fleming_forms_differ_early() -> None:
    """The one-sided form (gsDesign sfLDOF) spends less early than the halved two-sided form."""
    one = OBrienFlemingSpending().spend(0.5, 0.025)
    half = OBrienFlemingSpending("two-sided-half").spend(0.5, 0.025)  # type: ignore[arg-type]
    assert one < half


def test_obrien_fleming_is_brownian_crossing_probability() -> None:
    """One-sided form = P(sup_{s<=t} W(s) >= c) = 2(1 - Phi(c/sqrt t)) with c = z_{1-a/2} (reflection principle)."""
    c = 2.241402727604947  # z_{0.9875}
    t = np.array([0.1, 0.3, 0.7])
    expected = [math.erfc(c / math.sqrt(x) / math.sqrt(2.0)) for x in t]
    np.testing.assert_allclose(OBrienFlemingSpending().spend(t, 0.025), expected, rtol=1e-10)


def test_hsd_near_zero_gamma_is_continuous() -> None:
    """HSD tends to linear as gamma -> 0 (expm1 keeps the ratio exact near 0)."""
    t = np.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(HwangShihDeCaniSpending(1e-9).spend(t, 0.025), 0.025 * t, rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: HwangShihDeCaniSpending(41.0), "gamma", id="hsd-gamma-above-40"),
        pytest.param(lambda: HwangShihDeCaniSpending(float("nan")), "gamma", id="hsd-gamma-nan"),
        pytest.param(lambda: PowerSpending(0.0), "rho", id="power-rho-zero"),
        pytest.param(lambda: PowerSpending(-1.0), "rho", id="power-rho-negative"),
        pytest.param(lambda: OBrienFlemingSpending("two-sided"), "form", id="obf-unknown-form"),  # type: ignore[arg-type]
    ],
)
def test_bad_parameters(make: object, message: str) -> None:
    with pytest.raises(DesignInputError, match=message):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("t", "total", "message"),
    [
        pytest.param(-0.1, 0.025, "information fractions", id="t-negative"),
        pytest.param(1.2, 0.025, "information fractions", id="t-above-one"),
        pytest.param(float("nan"), 0.025, "finite", id="t-nan"),
        pytest.param("half", 0.025, "numbers", id="t-text"),
        pytest.param(0.5, 0.0, "total", id="total-zero"),
        pytest.param(0.5, 1.0, "total", id="total-one"),
    ],
)
def test_bad_spend_arguments(t: object, total: float, message: str) -> None:
    """Bad input is a TrialtwinError (the CLI exits 2) naming the argument."""
    with pytest.raises(TrialtwinError, match=message):
        PocockSpending().spend(t, total)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("obf", OBrienFlemingSpending()),
        ("OBF-two-sided-half", OBrienFlemingSpending(OBrienFlemingForm.TWO_SIDED_HALF)),
        ("pocock", PocockSpending()),
        ("hsd:-4", HwangShihDeCaniSpending(-4.0)),
        (" power:3 ", PowerSpending(3.0)),
        ("linear", PowerSpending(1.0)),
    ],
)
def test_parse_spending(text: str, expected: SpendingFunction) -> None:
    assert parse_spending(text) == expected


@pytest.mark.parametrize("text", ["obrien", "hsd", "hsd:x", "power:0", "pocock:1"])
def test_parse_spending_rejects(text: str) -> None:
    with pytest.raises(DesignInputError):
        parse_spending(text)


def test_labels_name_parameters() -> None:
    assert "gamma = -4" in HwangShihDeCaniSpending(-4).label
    assert PowerSpending(1).label == "linear"
    assert "rho = 2" in PowerSpending(2).label
