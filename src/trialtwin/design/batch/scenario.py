"""What the batched engine simulates: a two-arm time-to-event design as frozen, validated data.

A design is: n subjects arriving by piecewise-constant enrolment rates over calendar time, each falling in a
stratum with given probabilities and randomized by stratified permuted blocks; an event hazard and a dropout
hazard per arm (optionally per stratum), each piecewise constant in time since randomization (so delayed,
diminishing or crossing effects are plain data); and one or more analyses ("looks"), each cut at a target number
of events or at a calendar month. Times are in months; rates are per month.

Observation (``observation``): ``"continuous"`` — the event is seen when it happens; ``"scans"`` — the event
hazard is that of *latent* progression, seen only at the next scheduled tumour assessment (``scans``, see
``trialtwin.design.batch.scans``), while death without progression (``death``) is seen at its date.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from trialtwin.design.batch.scans import Reading, ScanSchedule
from trialtwin.design.batch.statistics import BatchInputError
from trialtwin.protocol.model import ArmType, Protocol

FloatArray = npt.NDArray[np.float64]

#: Ticks per month: follow-up times are counted in whole 2⁻¹⁶ months (≈ 40 seconds), exact in float32.
TICKS_PER_MONTH = 2**16
#: Most distinct block arrangements the allocation tables hold (e.g. 1:1 blocks of 16 have 12,870).
MAX_BLOCK_PATTERNS = 2**16


def _floats(values: Sequence[float] | float, name: str) -> tuple[float, ...]:
    seq = (values,) if isinstance(values, int | float) else tuple(values)
    try:
        out = tuple(float(v) for v in seq)
    except (TypeError, ValueError):
        raise BatchInputError(f"{name}: expected numbers, got {values!r}") from None
    if not out:
        raise BatchInputError(f"{name}: needs at least one value")
    return out


@dataclass(frozen=True, slots=True)
class PiecewiseRate:
    """A rate constant on pieces: ``rates[k]`` per month from ``starts[k]`` to ``starts[k + 1]`` (the last piece
    open-ended); ``starts`` begin at 0 and increase. As enrolment: subjects per month over calendar months; as a
    hazard: events per subject-month over months since randomization (piecewise exponential, e.g. simtrial's
    ``fail_rate``)."""

    rates: tuple[float, ...]
    starts: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        rates = _floats(self.rates, "rates")
        starts = _floats(self.starts, "starts")
        object.__setattr__(self, "rates", rates)
        object.__setattr__(self, "starts", starts)
        if len(rates) != len(starts):
            raise BatchInputError(f"rates {list(rates)} and starts {list(starts)} differ in length")
        if starts[0] != 0.0:
            raise BatchInputError(f"starts: the first piece starts at 0, got {starts[0]!r}")
        if any(b <= a for a, b in itertools.pairwise(starts)) or not all(math.isfinite(s) for s in starts):
            raise BatchInputError(f"starts: must be finite and strictly increasing, got {list(starts)}")
        if any(not math.isfinite(r) or r < 0 for r in rates):
            raise BatchInputError(f"rates: must be finite and ≥ 0, got {list(rates)}")

    @classmethod
    def constant(cls, rate: float) -> PiecewiseRate:
        """One rate for all time."""
        return cls((float(rate),))

    @classmethod
    def from_median(cls, median: float) -> PiecewiseRate:
        """Exponential hazard with this median (months): λ = ln 2 / median."""
        m = float(median)
        if not (math.isfinite(m) and m > 0):
            raise BatchInputError(f"median: must be a positive number of months, got {median!r}")
        return cls((math.log(2.0) / m,))

    def scaled(self, factor: float | Sequence[float], starts: Sequence[float] | None = None) -> PiecewiseRate:
        """This rate times ``factor`` — one number (proportional hazards) or one per piece of ``starts``
        (a hazard ratio that changes over time: delayed, diminishing or crossing effects)."""
        factors = _floats(factor, "hazard ratio")
        if starts is None:
            if len(factors) > 1:
                raise BatchInputError(f"hazard ratio: {len(factors)} values need their starts (hr_starts)")
            f_starts: tuple[float, ...] = (0.0,)
        else:
            f_starts = _floats(starts, "hazard ratio starts")
        if len(factors) != len(f_starts):
            raise BatchInputError(f"hazard ratio {list(factors)} and starts {list(f_starts)} differ in length")
        if any(not math.isfinite(f) or f < 0 for f in factors):
            raise BatchInputError(f"hazard ratio: must be finite and ≥ 0, got {list(factors)}")
        PiecewiseRate(factors, f_starts)  # validates the starts
        knots = sorted(set(self.starts) | set(f_starts))
        rates = [self.rate_at(t) * factors[int(np.searchsorted(f_starts, t, side="right")) - 1] for t in knots]
        return PiecewiseRate(tuple(rates), tuple(knots))

    def rate_at(self, t: float) -> float:
        """The rate in force at time ``t`` (≥ 0)."""
        return self.rates[int(np.searchsorted(self.starts, t, side="right")) - 1]

    def cumulative(self, t: npt.ArrayLike) -> FloatArray:
        """∫₀ᵗ rate (vectorized)."""
        tt = np.asarray(t, dtype=np.float64)
        starts = np.asarray(self.starts)
        rates = np.asarray(self.rates)
        widths = np.diff(starts)
        knots_h = np.concatenate(([0.0], np.cumsum(widths * rates[:-1])))
        k = np.searchsorted(starts, tt, side="right") - 1
        return np.asarray(knots_h[k] + (tt - starts[k]) * rates[k], dtype=np.float64)

    def median(self) -> float:
        """Median of the piecewise-exponential distribution (∞ when the cumulative hazard stays below ln 2)."""
        return self.quantile(0.5)

    def quantile(self, p: float) -> float:
        """Time by which a fraction ``p`` has had the event: the inverse of 1 − exp(−∫ rate)."""
        target = -math.log1p(-p)
        h = 0.0
        for k, (start, rate) in enumerate(zip(self.starts, self.rates, strict=True)):
            end = self.starts[k + 1] if k + 1 < len(self.starts) else math.inf
            if rate > 0 and h + rate * (end - start) >= target:
                return start + (target - h) / rate
            h += rate * (end - start) if math.isfinite(end) else 0.0
        return math.inf


def _as_rate(value: PiecewiseRate | float, name: str) -> PiecewiseRate:
    if isinstance(value, PiecewiseRate):
        return value
    if isinstance(value, int | float):
        return PiecewiseRate.constant(float(value))
    raise BatchInputError(f"{name}: expected a PiecewiseRate or a number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Cut:
    """When an analysis happens: at the ``events``-th event, at calendar month ``months`` (from the first
    subject's enrolment window opening, month 0), or — both given — whichever comes first. If the target number
    of events is never reached the analysis uses all follow-up (the look's ``reached`` flag says so)."""

    events: int | None = None
    months: float | None = None

    def __post_init__(self) -> None:
        if self.events is None and self.months is None:
            raise BatchInputError("cut: give events=, months= or both")
        if self.events is not None and (isinstance(self.events, bool) or int(self.events) != self.events):
            raise BatchInputError(f"cut events: expected a whole number, got {self.events!r}")
        if self.events is not None and self.events < 1:
            raise BatchInputError(f"cut events: must be ≥ 1, got {self.events!r}")
        if self.months is not None and not (math.isfinite(self.months) and self.months > 0):
            raise BatchInputError(f"cut months: must be a positive number of months, got {self.months!r}")

    @property
    def label(self) -> str:
        parts = []
        if self.events is not None:
            parts.append(f"{self.events} events")
        if self.months is not None:
            parts.append(f"month {self.months:g}")
        return " or ".join(parts)


ArmRates = tuple[PiecewiseRate, PiecewiseRate]


def _as_arm_rates(value: object, name: str, n_strata: int) -> tuple[ArmRates, ...]:
    """One (control, experimental) pair for all strata, or one pair per stratum."""
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, PiecewiseRate) for v in value):
        return ((value[0], value[1]),)
    if isinstance(value, tuple | list) and value and all(isinstance(v, tuple | list) for v in value):
        rows = tuple(_as_arm_rates(v, f"{name}[{i}]", n_strata)[0] for i, v in enumerate(value))
        if len(rows) not in (1, n_strata):
            raise BatchInputError(f"{name}: {len(rows)} rows for {n_strata} strata (give 1 or {n_strata})")
        return rows
    raise BatchInputError(f"{name}: expected (control, experimental) PiecewiseRates, or one such pair per stratum")


def block_patterns(block_sizes: Sequence[int], ratio: tuple[int, int]) -> list[tuple[int, ...]]:
    """Every arrangement of every block size (arm 1 positions chosen among the block), in a fixed order."""
    total = ratio[0] + ratio[1]
    patterns: list[tuple[int, ...]] = []
    for size in block_sizes:
        ones = size // total * ratio[1]
        for chosen in itertools.combinations(range(size), ones):
            block = [0] * size
            for i in chosen:
                block[i] = 1
            patterns.append(tuple(block))
    return patterns


@dataclass(frozen=True, slots=True)
class BatchDesign:
    """A two-arm time-to-event design for the batched engine (arm 0 control, arm 1 experimental).

    ``hazards``/``dropout``: a (control, experimental) pair of ``PiecewiseRate`` for every stratum, or one pair
    per stratum (``((c₀, e₀), (c₁, e₁), …)``); ``dropout=None`` means no dropout. ``strata``: probability of each
    stratum (summing to 1). ``ratio``: control : experimental allocation; every block size is a multiple of its
    sum. ``looks``: the analyses, in order. ``start``: the calendar date of month 0 (reporting only).
    ``death``: hazard of death without progression (part of the PFS event; None: none). ``observation``:
    ``"continuous"`` or ``"scans"`` (progression seen only at the assessments of ``scans``; module docstring).
    ``reading`` (scan mode): per arm (control, experimental), a ``Reading``: how often the reader documents
    progression some scans before or after the first scan on or after it (reading variability; None: read
    exactly).
    """

    n: int
    enrollment: PiecewiseRate
    hazards: tuple[ArmRates, ...]
    looks: tuple[Cut, ...]
    dropout: tuple[ArmRates, ...] | None = None
    strata: tuple[float, ...] = (1.0,)
    strata_labels: tuple[str, ...] = ()
    ratio: tuple[int, int] = (1, 1)
    block_sizes: tuple[int, ...] = (2, 4)
    arm_labels: tuple[str, str] = ("control", "experimental")
    start: dt.date | None = None
    name: str = "design"
    death: tuple[ArmRates, ...] | None = None
    observation: str = "continuous"
    scans: ScanSchedule | None = None
    reading: tuple[Reading, Reading] | None = None
    _patterns: tuple[tuple[int, ...], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or int(self.n) != self.n or self.n < 2:
            raise BatchInputError(f"n: expected a whole number of subjects ≥ 2, got {self.n!r}")
        if self.n >= 2**15:
            raise BatchInputError(f"n: {self.n} subjects per trial is beyond this engine (at most 32767)")
        object.__setattr__(self, "enrollment", _as_rate(self.enrollment, "enrollment"))
        if self.enrollment.rates[-1] <= 0:
            raise BatchInputError("enrollment: the last piece needs a positive rate, or n is never reached")
        strata = _floats(self.strata, "strata")
        if any(p <= 0 for p in strata) or abs(sum(strata) - 1.0) > 1e-9:
            raise BatchInputError(f"strata: probabilities must be > 0 and sum to 1, got {list(strata)}")
        if len(strata) > 256:
            raise BatchInputError(f"strata: at most 256 strata, got {len(strata)}")
        object.__setattr__(self, "strata", tuple(p / sum(strata) for p in strata))
        labels = tuple(self.strata_labels) or tuple(str(i + 1) for i in range(len(strata)))
        if len(labels) != len(strata):
            raise BatchInputError(f"strata_labels: {len(labels)} labels for {len(strata)} strata")
        object.__setattr__(self, "strata_labels", labels)
        object.__setattr__(self, "hazards", _as_arm_rates(self.hazards, "hazards", len(strata)))
        if self.dropout is not None:
            object.__setattr__(self, "dropout", _as_arm_rates(self.dropout, "dropout", len(strata)))
        if self.death is not None:
            object.__setattr__(self, "death", _as_arm_rates(self.death, "death", len(strata)))
        if self.observation not in ("continuous", "scans"):
            raise BatchInputError(f"observation: expected 'continuous' or 'scans', got {self.observation!r}")
        if self.observation == "scans" and not isinstance(self.scans, ScanSchedule):
            raise BatchInputError("scans: observation='scans' needs the assessment schedule (a ScanSchedule)")
        if self.reading is not None:
            reading = tuple(self.reading)
            if len(reading) != 2 or not all(isinstance(r, Reading) for r in reading):
                raise BatchInputError("reading: expected (control, experimental) Readings")
            object.__setattr__(self, "reading", (reading[0], reading[1]))
        ratio = tuple(int(r) for r in self.ratio)
        if len(ratio) != 2 or any(r < 1 for r in ratio):
            raise BatchInputError(f"ratio: expected (control, experimental) positive integers, got {self.ratio!r}")
        object.__setattr__(self, "ratio", ratio)
        sizes = tuple(int(b) for b in self.block_sizes)
        if not sizes or any(b < 1 or b % sum(ratio) for b in sizes) or len(set(sizes)) != len(sizes):
            raise BatchInputError(
                f"block_sizes: distinct positive multiples of the ratio total {sum(ratio)}, got {list(sizes)}"
            )
        object.__setattr__(self, "block_sizes", sizes)
        patterns = block_patterns(sizes, (ratio[0], ratio[1]))
        if len(patterns) > MAX_BLOCK_PATTERNS:
            raise BatchInputError(f"block_sizes: {list(sizes)} give {len(patterns)} arrangements (at most 65536)")
        object.__setattr__(self, "_patterns", tuple(patterns))
        looks = (self.looks,) if isinstance(self.looks, Cut) else tuple(self.looks)
        if not looks or not all(isinstance(c, Cut) for c in looks):
            raise BatchInputError("looks: give at least one Cut(events=…, months=…)")
        for i, cut in enumerate(looks):
            if cut.events is not None and cut.events > self.n:
                raise BatchInputError(f"looks[{i}]: {cut.events} events from {self.n} subjects")
        object.__setattr__(self, "looks", looks)

    # ---- derived ------------------------------------------------------------------------------------------

    @property
    def n_strata(self) -> int:
        return len(self.strata)

    @property
    def allocation(self) -> float:
        """Fraction randomized to the experimental arm, r = e / (c + e)."""
        return self.ratio[1] / (self.ratio[0] + self.ratio[1])

    @property
    def patterns(self) -> tuple[tuple[int, ...], ...]:
        """Every block arrangement (0 control, 1 experimental) the allocation draws from."""
        return self._patterns

    def hazard(self, stratum: int, arm: int) -> PiecewiseRate:
        row = self.hazards[stratum] if len(self.hazards) > 1 else self.hazards[0]
        return row[arm]

    def dropout_hazard(self, stratum: int, arm: int) -> PiecewiseRate:
        if self.dropout is None:
            return PiecewiseRate.constant(0.0)
        row = self.dropout[stratum] if len(self.dropout) > 1 else self.dropout[0]
        return row[arm]

    def death_hazard(self, stratum: int, arm: int) -> PiecewiseRate:
        if self.death is None:
            return PiecewiseRate.constant(0.0)
        row = self.death[stratum] if len(self.death) > 1 else self.death[0]
        return row[arm]

    # ---- constructors ---------------------------------------------------------------------------------------

    @classmethod
    def exponential(
        cls,
        n: int,
        *,
        hr: float | Sequence[float],
        control_median_months: float,
        events: int | Sequence[int] | None = None,
        months: float | Sequence[float] | None = None,
        accrual_months: float = 24.0,
        enrollment: PiecewiseRate | None = None,
        hr_starts: Sequence[float] | None = None,
        dropout_per_month: float = 0.0,
        strata: Sequence[float] = (1.0,),
        ratio: tuple[int, int] = (1, 1),
        block_sizes: Sequence[int] = (2, 4),
        strata_labels: Sequence[str] = (),
        arm_labels: tuple[str, str] = ("control", "experimental"),
        start: dt.date | None = None,
        name: str = "design",
        death_per_month: float = 0.0,
        observation: str = "continuous",
        scans: ScanSchedule | None = None,
    ) -> BatchDesign:
        """Exponential control arm with median ``control_median_months``; experimental hazard = control × ``hr``
        (one value, or one per piece starting at ``hr_starts``); uniform accrual of ``n`` over
        ``accrual_months`` unless ``enrollment`` is given; exponential dropout and death without progression
        (both arms); ``observation``/``scans`` as in the class."""
        control = PiecewiseRate.from_median(control_median_months)
        experimental = control.scaled(hr, hr_starts)
        drop = None
        if dropout_per_month:
            d = PiecewiseRate.constant(dropout_per_month)
            drop = ((d, d),)
        death = None
        if death_per_month:
            dd = PiecewiseRate.constant(death_per_month)
            death = ((dd, dd),)
        if enrollment is None:
            if not (math.isfinite(accrual_months) and accrual_months > 0):
                raise BatchInputError(f"accrual_months: must be positive, got {accrual_months!r}")
            enrollment = PiecewiseRate.constant(n / accrual_months)
        return cls(
            n=n,
            enrollment=enrollment,
            hazards=((control, experimental),),
            dropout=drop,
            looks=_looks(events, months),
            strata=tuple(strata),
            ratio=ratio,
            block_sizes=tuple(block_sizes),
            strata_labels=tuple(strata_labels),
            arm_labels=arm_labels,
            start=start,
            name=name,
            death=death,
            observation=observation,
            scans=scans,
        )

    @classmethod
    def from_protocol(
        cls,
        protocol: Protocol,
        *,
        hr: float | Sequence[float],
        control_median_months: float,
        events: int | Sequence[int] | None = None,
        months: float | Sequence[float] | None = None,
        accrual_months: float = 24.0,
        enrollment: PiecewiseRate | None = None,
        hr_starts: Sequence[float] | None = None,
        dropout_per_month: float = 0.0,
        strata_probabilities: Mapping[str, float] | Sequence[float] | None = None,
        death_per_month: float = 0.0,
        observation: str = "continuous",
    ) -> BatchDesign:
        """The design of a protocol: n = ``protocol.enrollment.count``, the randomization ratio (control = the
        comparator arm, experimental = the EXPERIMENTAL arm) and block sizes, strata = the crossed levels of the
        factors in ``randomization.stratified_by`` (equally likely unless ``strata_probabilities`` gives them,
        by label such as ``"2/yes/no"`` or in order), month 0 = ``status.start``. ``events``/``months``: one
        look or several. ``accrual_months`` defaults to 24 (EVER-132-002 facts §9: about 24 months).
        ``observation="scans"``: progression seen at the protocol's ``tumour_assessment`` calendar."""
        spec = protocol.randomization
        if spec is None:
            raise BatchInputError(f"{protocol.id}: randomization: the protocol defines no randomization")
        experimental = [a for a in protocol.arms if a.type is ArmType.EXPERIMENTAL]
        control = [a for a in protocol.arms if a.type is not ArmType.EXPERIMENTAL]
        if len(experimental) != 1 or len(control) != 1:
            raise BatchInputError(
                f"{protocol.id}: arms: the batched engine needs one EXPERIMENTAL and one comparator arm, "
                f"got {[f'{a.id} ({a.type})' for a in protocol.arms]}"
            )
        arm_c, arm_e = control[0], experimental[0]
        try:
            ratio = (int(spec.ratio[arm_c.id]), int(spec.ratio[arm_e.id]))
        except KeyError as exc:
            raise BatchInputError(f"{protocol.id}: randomization.ratio: no weight for arm {exc.args[0]!r}") from None
        factors = [protocol.factor(f) for f in spec.stratified_by]
        levels = list(itertools.product(*[[lv.code for lv in f.levels] for f in factors])) or [()]
        labels = tuple("/".join(combo) or "all" for combo in levels)
        probs = _strata_probabilities(strata_probabilities, labels, protocol.id)
        block_sizes = tuple(spec.block_sizes) if spec.method == "permuted_block" and spec.block_sizes else (sum(ratio),)
        scans = protocol_scans(protocol) if observation == "scans" else None
        return cls.exponential(
            protocol.enrollment.count,
            hr=hr,
            control_median_months=control_median_months,
            events=events,
            months=months,
            accrual_months=accrual_months,
            enrollment=enrollment,
            hr_starts=hr_starts,
            dropout_per_month=dropout_per_month,
            strata=probs,
            ratio=ratio,
            block_sizes=block_sizes,
            strata_labels=labels,
            arm_labels=(arm_c.id, arm_e.id),
            start=protocol.status.start.date,
            name=protocol.id,
            death_per_month=death_per_month,
            observation=observation,
            scans=scans,
        )


def protocol_scans(protocol: Protocol) -> ScanSchedule:
    """The protocol's tumour-assessment calendar as a ``ScanSchedule`` (error naming the field if it has none)."""
    if protocol.tumour_assessment is None:
        raise BatchInputError(f"{protocol.id}: tumour_assessment: the protocol has no scan calendar for 'scans'")
    return ScanSchedule.from_protocol(protocol.tumour_assessment)


def _looks(events: int | Sequence[int] | None, months: float | Sequence[float] | None) -> tuple[Cut, ...]:
    ev = [] if events is None else ([events] if isinstance(events, int) else list(events))
    mo = [] if months is None else ([months] if isinstance(months, int | float) else list(months))
    if ev and mo and len(ev) != len(mo):
        raise BatchInputError(f"events {ev} and months {mo}: give one value per look for both, or only one of them")
    if not ev and not mo:
        raise BatchInputError("events/months: give the analysis cut (events=232, months=30, or lists for looks)")
    count = max(len(ev), len(mo))
    return tuple(Cut(events=int(ev[i]) if ev else None, months=float(mo[i]) if mo else None) for i in range(count))


def _strata_probabilities(
    given: Mapping[str, float] | Sequence[float] | None, labels: tuple[str, ...], where: str
) -> tuple[float, ...]:
    if given is None:
        return tuple(1.0 / len(labels) for _ in labels)
    if isinstance(given, Mapping):
        unknown = sorted(set(given) - set(labels))
        if unknown:
            raise BatchInputError(f"{where}: strata_probabilities: unknown strata {unknown} (strata: {list(labels)})")
        missing = [lb for lb in labels if lb not in given]
        if missing:
            raise BatchInputError(f"{where}: strata_probabilities: no probability for {missing}")
        return tuple(float(given[lb]) for lb in labels)
    values = _floats(given, "strata_probabilities")
    if len(values) != len(labels):
        raise BatchInputError(f"{where}: strata_probabilities: {len(values)} values for {len(labels)} strata")
    return values
