"""Error-spending functions for group-sequential designs (cumulative type I or type II error by information fraction).

A spending function f(t; total) gives the cumulative error allowed to be spent by information fraction
t ∈ [0, 1], increasing from f(0) = 0 to f(1) = ``total`` (Lan & DeMets 1983, Biometrika 70:659–663). The same
functions serve as alpha spending (efficacy bounds, ``total`` = one-sided α) and beta spending (futility bounds,
``total`` = β = 1 − power).

Every function here is a frozen dataclass whose ``spend(t, total)`` is vectorized over ``t``. ``total`` is a call
argument, not a field, because the Lan–DeMets O'Brien–Fleming type depends on α non-linearly (it is not
``total × shape(t)``), so one object serves both α and β spending and any α.

| class | cumulative error spent by t (total error a) | source |
|---|---|---|
| ``OBrienFlemingSpending()`` | 2 (1 − Φ(z_{1−a/2} / √t)) | Lan & DeMets 1983; gsDesign sfLDOF, rpact asOF |
| ``OBrienFlemingSpending("two-sided-half")`` | 1 − Φ(z_{1−a} / √t) | Lan & DeMets two-sided form at 2a, halved |
| ``PocockSpending()`` | a · ln(1 + (e − 1) t) | Lan & DeMets 1983; gsDesign sfLDPocock |
| ``HwangShihDeCaniSpending(gamma)`` | a (1 − e^{−γt}) / (1 − e^{−γ}); γ = 0: a·t | Hwang, Shih & DeCani 1990 |
| ``PowerSpending(rho)`` | a · t^ρ (ρ = 1: linear) | Kim & DeMets 1987, Biometrika 74:149–154 |

Hwang, Shih & DeCani 1990: Stat Med 9:1439–1445.

z_p is the standard normal p-quantile, Φ the standard normal CDF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy import special

from trialtwin.protocol.errors import TrialtwinError

FloatArray = npt.NDArray[np.float64]

#: Largest |γ| accepted by the Hwang–Shih–DeCani family (gsDesign ``sfHSD`` uses the same range).
HSD_GAMMA_LIMIT = 40.0


class DesignInputError(TrialtwinError, ValueError):
    """Bad input to a design computation: the message names the argument and the value at fault."""


def check_fraction(t: npt.ArrayLike, name: str = "t") -> FloatArray:
    """Information fractions as a float array: finite, within [0, 1] (1 + 1e-12 is clipped to 1)."""
    try:
        arr = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise DesignInputError(f"{name}: information fractions must be numbers, got {t!r}") from None
    if not np.all(np.isfinite(arr)):
        raise DesignInputError(f"{name}: information fractions must be finite, got {t!r}")
    if np.any(arr < 0.0) or np.any(arr > 1.0 + 1e-12):
        raise DesignInputError(f"{name}: information fractions must lie in [0, 1], got {t!r}")
    return np.minimum(arr, 1.0)


def check_probability(value: float, name: str) -> float:
    """A probability strictly between 0 and 1 (an error rate or a power)."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise DesignInputError(f"{name}: must be a number strictly between 0 and 1, got {value!r}") from None
    if not 0.0 < p < 1.0:
        raise DesignInputError(f"{name}: must be strictly between 0 and 1, got {value!r}")
    return p


@runtime_checkable
class SpendingFunction(Protocol):
    """What the boundary computation needs from a spending function."""

    @property
    def label(self) -> str:
        """Name with parameters, for tables and footnotes."""
        ...

    def spend(self, t: npt.ArrayLike, total: float) -> FloatArray:
        """Cumulative error spent by information fraction(s) ``t`` out of ``total``."""
        ...


class OBrienFlemingForm(StrEnum):
    """Which Lan–DeMets O'Brien–Fleming-type function a one-sided design spends.

    ``ONE_SIDED``: f(t) = 2(1 − Φ(z_{1−a/2}/√t)) with a the one-sided total — the probability that a standard
    Brownian motion crosses the constant z_{1−a/2} before t (Lan & DeMets 1983); gsDesign ``sfLDOF`` and rpact
    ``asOF`` (one-sided α = 0.025 gives 2.963, 1.969 at t = 0.5, 1).

    ``TWO_SIDED_HALF``: f(t) = 1 − Φ(z_{1−a}/√t), i.e. Lan & DeMets' two-sided function 2 − 2Φ(z_{α₂/2}/√t) at
    α₂ = 2a, halved. Spends more early (t = 0.5, a = 0.025: 0.00279 against 0.00153).
    """

    ONE_SIDED = "one-sided"
    TWO_SIDED_HALF = "two-sided-half"


def _t_and_total(t: npt.ArrayLike, total: float) -> tuple[FloatArray, float]:
    return check_fraction(t), check_probability(total, "total")


@dataclass(frozen=True, slots=True)
class OBrienFlemingSpending:
    """Lan–DeMets O'Brien–Fleming-type spending (Lan & DeMets 1983, Biometrika 70:659–663); see the module table."""

    form: OBrienFlemingForm = OBrienFlemingForm.ONE_SIDED

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "form", OBrienFlemingForm(self.form))
        except ValueError:
            choices = ", ".join(f.value for f in OBrienFlemingForm)
            raise DesignInputError(f"form: must be one of {choices}, got {self.form!r}") from None

    @property
    def label(self) -> str:
        suffix = "" if self.form is OBrienFlemingForm.ONE_SIDED else ", two-sided form halved"
        return f"Lan–DeMets O'Brien–Fleming type{suffix}"

    def spend(self, t: npt.ArrayLike, total: float) -> FloatArray:
        tt, a = _t_and_total(t, total)
        z = special.ndtri(1.0 - a / 2.0) if self.form is OBrienFlemingForm.ONE_SIDED else special.ndtri(1.0 - a)
        with np.errstate(divide="ignore"):
            upper_tail = special.ndtr(-z / np.sqrt(tt))  # t = 0: z/0 = inf, tail 0
        out = 2.0 * upper_tail if self.form is OBrienFlemingForm.ONE_SIDED else upper_tail
        return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PocockSpending:
    """Lan–DeMets Pocock-type spending a · ln(1 + (e − 1) t) (Lan & DeMets 1983)."""

    @property
    def label(self) -> str:
        return "Lan–DeMets Pocock type"

    def spend(self, t: npt.ArrayLike, total: float) -> FloatArray:
        tt, a = _t_and_total(t, total)
        return np.asarray(a * np.log1p((math.e - 1.0) * tt), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class HwangShihDeCaniSpending:
    """Hwang–Shih–DeCani family a (1 − e^{−γt}) / (1 − e^{−γ}), linear at γ = 0 (Hwang, Shih & DeCani 1990).

    γ = −4 is O'Brien–Fleming-like, γ = 1 Pocock-like; |γ| ≤ 40 as in gsDesign ``sfHSD``.
    """

    gamma: float

    def __post_init__(self) -> None:
        g = float(self.gamma)
        if not math.isfinite(g) or abs(g) > HSD_GAMMA_LIMIT:
            raise DesignInputError(f"gamma: must be finite with |gamma| <= {HSD_GAMMA_LIMIT:g}, got {self.gamma!r}")
        object.__setattr__(self, "gamma", g)

    @property
    def label(self) -> str:
        return f"Hwang–Shih–DeCani (gamma = {self.gamma:g})"

    def spend(self, t: npt.ArrayLike, total: float) -> FloatArray:
        tt, a = _t_and_total(t, total)
        if self.gamma == 0.0:
            return np.asarray(a * tt, dtype=np.float64)
        # (1 − e^{−γt}) / (1 − e^{−γ}) with expm1: exact near γ = 0 and for either sign of γ.
        return np.asarray(a * np.expm1(-self.gamma * tt) / math.expm1(-self.gamma), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PowerSpending:
    """Kim–DeMets power family a · t^ρ, ρ > 0 (Kim & DeMets 1987); ρ = 1 is linear, ρ = 3 O'Brien–Fleming-like."""

    rho: float

    def __post_init__(self) -> None:
        r = float(self.rho)
        if not math.isfinite(r) or r <= 0.0:
            raise DesignInputError(f"rho: must be a finite number > 0, got {self.rho!r}")
        object.__setattr__(self, "rho", r)

    @property
    def label(self) -> str:
        return "linear" if self.rho == 1.0 else f"Kim–DeMets power (rho = {self.rho:g})"

    def spend(self, t: npt.ArrayLike, total: float) -> FloatArray:
        tt, a = _t_and_total(t, total)
        return np.asarray(a * tt**self.rho, dtype=np.float64)


_NAMES = "obf, obf-two-sided-half, pocock, hsd:GAMMA, power:RHO, linear"


def parse_spending(text: str) -> SpendingFunction:
    """A spending function from a short name (for command lines and study files).

    ``obf`` (Lan–DeMets O'Brien–Fleming type), ``obf-two-sided-half``, ``pocock`` (Lan–DeMets Pocock type),
    ``hsd:-4`` (Hwang–Shih–DeCani γ = −4), ``power:3`` (Kim–DeMets ρ = 3), ``linear`` (= ``power:1``).
    """
    raw = str(text).strip().lower()
    name, _, arg = raw.partition(":")
    simple: dict[str, SpendingFunction] = {
        "obf": OBrienFlemingSpending(),
        "obf-two-sided-half": OBrienFlemingSpending(OBrienFlemingForm.TWO_SIDED_HALF),
        "pocock": PocockSpending(),
        "linear": PowerSpending(1.0),
    }
    if name in simple and not arg:
        return simple[name]
    if name in ("hsd", "power") and arg:
        try:
            value = float(arg)
        except ValueError:
            raise DesignInputError(f"spending: {name} needs a number after ':', got {text!r}") from None
        return HwangShihDeCaniSpending(value) if name == "hsd" else PowerSpending(value)
    raise DesignInputError(f"spending: unknown spending function {text!r} (choose one of {_NAMES})")
