"""The batched engine's design description (trialtwin.design.batch.scenario): validation and constructors."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from trialtwin.design.batch import BatchDesign, BatchInputError, Cut, PiecewiseRate, block_patterns
from trialtwin.protocol import Protocol
from trialtwin.protocol.errors import TrialtwinError

LN2 = math.log(2.0)


@pytest.mark.parametrize(
    ("rates", "starts", "message"),
    [
        pytest.param((0.1, 0.2), (0.0,), "differ in length", id="one-start-per-rate"),
        pytest.param((0.1,), (1.0,), "first piece starts at 0", id="starts-at-zero"),
        pytest.param((0.1, 0.2), (0.0, 0.0), "strictly increasing", id="starts-increase"),
        pytest.param((-0.1,), (0.0,), "≥ 0", id="rates-non-negative"),
        pytest.param((math.inf,), (0.0,), "finite", id="rates-finite"),
        pytest.param((), (), "at least one value", id="not-empty"),
    ],
)
def test_piecewise_rate_rejects(rates: tuple[float, ...], starts: tuple[float, ...], message: str) -> None:
    """Each PiecewiseRate rule names the field and value at fault (a TrialtwinError, so the CLI exits 2)."""
    with pytest.raises(BatchInputError, match=message) as info:
        PiecewiseRate(rates, starts)
    assert isinstance(info.value, TrialtwinError)


def test_piecewise_rate_from_median_and_quantiles() -> None:
    """Exponential: λ = ln 2 / median; the piecewise quantile inverts 1 − exp(−Λ(t))."""
    rate = PiecewiseRate.from_median(4.2)
    assert rate.rates == (pytest.approx(LN2 / 4.2),)
    assert rate.median() == pytest.approx(4.2)
    pw = PiecewiseRate((0.0, 0.2), (0.0, 3.0))  # nothing for 3 months, then hazard 0.2
    assert pw.median() == pytest.approx(3.0 + LN2 / 0.2)
    assert float(pw.cumulative(5.0)) == pytest.approx(0.4)
    assert PiecewiseRate((0.1, 0.0), (0.0, 1.0)).median() == math.inf  # cumulative hazard stops at 0.1


def test_scaled_builds_delayed_effect() -> None:
    """A hazard ratio per piece (delayed effect: 1 for 3 months, then 0.5) gives the merged pieces."""
    control = PiecewiseRate((0.2, 0.1), (0.0, 6.0))
    exp = control.scaled((1.0, 0.5), (0.0, 3.0))
    assert exp.starts == (0.0, 3.0, 6.0)
    assert exp.rates == pytest.approx((0.2, 0.1, 0.05))
    with pytest.raises(BatchInputError, match="need their starts"):
        control.scaled((1.0, 0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({}, "events=, months= or both", id="needs-a-rule"),
        pytest.param({"events": 0}, "≥ 1", id="events-positive"),
        pytest.param({"events": 2.5}, "whole number", id="events-whole"),
        pytest.param({"months": -1.0}, "positive number of months", id="months-positive"),
    ],
)
def test_cut_rejects(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(BatchInputError, match=message):
        Cut(**kwargs)  # type: ignore[arg-type]


def test_cut_label() -> None:
    assert Cut(events=232).label == "232 events"
    assert Cut(events=100, months=30).label == "100 events or month 30"


def _design(**overrides: object) -> BatchDesign:
    base: dict[str, object] = {
        "n": 100,
        "enrollment": PiecewiseRate.constant(10.0),
        "hazards": ((PiecewiseRate.constant(0.1), PiecewiseRate.constant(0.07)),),
        "looks": (Cut(events=60),),
    }
    base.update(overrides)
    return BatchDesign(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"n": 1}, "n: expected a whole number of subjects ≥ 2", id="n-at-least-2"),
        pytest.param({"n": 40_000}, "at most 32767", id="n-fits-the-keys"),
        pytest.param({"strata": (0.5, 0.4)}, "sum to 1", id="strata-sum-to-one"),
        pytest.param({"strata": (1.5, -0.5)}, "> 0", id="strata-positive"),
        pytest.param({"strata_labels": ("a", "b")}, "2 labels for 1 strata", id="one-label-per-stratum"),
        pytest.param({"block_sizes": (3,)}, "multiples of the ratio total 2", id="blocks-fit-ratio"),
        pytest.param({"block_sizes": (2, 2)}, "distinct", id="blocks-distinct"),
        pytest.param({"ratio": (0, 1)}, "positive integers", id="ratio-positive"),
        pytest.param({"looks": (Cut(events=101),)}, "101 events from 100 subjects", id="events-within-n"),
        pytest.param({"looks": ()}, "at least one Cut", id="needs-a-look"),
        pytest.param({"enrollment": PiecewiseRate((1.0, 0.0), (0.0, 5.0))}, "n is never reached", id="enrols-n"),
        pytest.param(
            {"hazards": ((PiecewiseRate.constant(0.1),) * 2,) * 3, "strata": (0.5, 0.5)},
            "3 rows for 2 strata",
            id="hazard-rows-per-stratum",
        ),
        pytest.param({"block_sizes": (20, 24)}, "arrangements", id="allocation-table-bounded"),
    ],
)
def test_design_rejects(overrides: dict[str, object], message: str) -> None:
    """Each BatchDesign rule, one row per clause."""
    with pytest.raises(BatchInputError, match=message):
        _design(**overrides)


def test_block_patterns_enumerate_every_arrangement() -> None:
    """1:1 blocks of 2 and 4: 2 + 6 arrangements; 2:1 blocks of 3: 3 arrangements with two controls."""
    assert len(block_patterns((2, 4), (1, 1))) == 8
    three = block_patterns((3,), (2, 1))
    assert sorted(three) == [(0, 0, 1), (0, 1, 0), (1, 0, 0)]
    assert _design().patterns == tuple(block_patterns((2, 4), (1, 1)))


def test_from_protocol_ever(ever: Protocol) -> None:
    """EVER-132-002: n = 331 (registry), 1:1 TPC (control) vs SG, blocks {2, 4}, 8 equally likely strata
    crossed from the three published factors, month 0 = registry start date 2020-11-23."""
    d = BatchDesign.from_protocol(ever, hr=0.67, control_median_months=4.2, events=232)
    assert d.n == 331
    assert d.arm_labels == ("tpc", "sg")
    assert d.ratio == (1, 1)
    assert d.block_sizes == (2, 4)
    assert d.n_strata == 8
    assert d.strata == pytest.approx((0.125,) * 8)
    assert d.strata_labels[0] == "2/yes/yes"
    assert d.start == dt.date(2020, 11, 23)
    assert d.looks == (Cut(events=232),)
    assert d.hazard(0, 0).rates[0] == pytest.approx(LN2 / 4.2)
    assert d.hazard(5, 1).rates[0] == pytest.approx(0.67 * LN2 / 4.2)
    assert d.enrollment.rates[0] == pytest.approx(331 / 24)
    assert d.dropout is None
    assert d.allocation == 0.5


def test_from_protocol_options(ever: Protocol, tropics: Protocol) -> None:
    """Strata probabilities by label, several looks, dropout, delayed effect; TROPiCS-02 works unchanged."""
    labels = BatchDesign.from_protocol(ever, hr=1, control_median_months=4, events=9).strata_labels
    probs = dict.fromkeys(labels, 0.1)
    probs["2/yes/yes"] = 0.3
    d = BatchDesign.from_protocol(
        ever,
        hr=(1.0, 0.6),
        hr_starts=(0.0, 2.0),
        control_median_months=4.2,
        events=(116, 232),
        dropout_per_month=0.01,
        strata_probabilities=probs,
    )
    assert d.strata[0] == pytest.approx(0.3)
    assert [c.events for c in d.looks] == [116, 232]
    assert d.dropout_hazard(3, 1).rates == (0.01,)
    assert d.hazard(0, 1).rates == pytest.approx((LN2 / 4.2, 0.6 * LN2 / 4.2))
    t = BatchDesign.from_protocol(tropics, hr=0.66, control_median_months=4.0, events=329)
    assert (t.n, t.n_strata, t.arm_labels) == (543, 8, ("tpc", "sg"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"strata_probabilities": {"x": 1.0}}, "unknown strata", id="unknown-stratum"),
        pytest.param({"strata_probabilities": (0.5, 0.5)}, "2 values for 8 strata", id="one-per-stratum"),
        pytest.param({"events": (10, 20), "months": (5.0,)}, "one value per look", id="looks-align"),
        pytest.param({"events": None}, "give the analysis cut", id="needs-a-cut"),
        pytest.param({"accrual_months": 0.0}, "accrual_months", id="accrual-positive"),
        pytest.param({"control_median_months": -1.0}, "median", id="median-positive"),
    ],
)
def test_from_protocol_rejects(ever: Protocol, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"hr": 0.7, "control_median_months": 4.2, "events": 232}
    args.update(kwargs)
    with pytest.raises(BatchInputError, match=message):
        BatchDesign.from_protocol(ever, **args)  # type: ignore[arg-type]
