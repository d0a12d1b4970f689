"""Sum of diameters (RECIST 1.1 §4.2-§4.3.1, Eisenhauer 2009; facts file section 5 "Small lesions")."""

from __future__ import annotations

import pytest

from trialtwin.engine.recist import (
    TOO_SMALL_MM,
    TargetLesion,
    all_measured,
    compute_pct_change,
    compute_sum_of_diameters,
    lesion_size_mm,
)


def liver(size: float | None, too_small: bool = False, lesion_id: str = "T1") -> TargetLesion:
    return TargetLesion(lesion_id, "liver", False, size, too_small)


def node(short_axis: float | None, lesion_id: str = "N1") -> TargetLesion:
    return TargetLesion(lesion_id, "lymph node", True, short_axis)


@pytest.mark.parametrize(
    ("lesions", "expected"),
    [
        pytest.param([liver(32.0), liver(21.0, lesion_id="T2")], 53.0, id="longest_diameters_add_up"),
        pytest.param([liver(30.0), node(18.0)], 48.0, id="node_counts_by_short_axis"),
        pytest.param([liver(None, too_small=True), node(16.0)], 21.0, id="too_small_to_measure_counts_5_mm"),
        pytest.param([liver(0.0), node(16.0)], 16.0, id="disappeared_lesion_counts_0_mm"),
        pytest.param([liver(0.0), node(7.0)], 7.0, id="normal_node_keeps_its_short_axis_not_zero"),
        pytest.param([liver(None), node(16.0)], 16.0, id="unmeasured_lesion_left_out"),
        pytest.param([], 0.0, id="no_target_lesions"),
    ],
)
def test_sum_of_diameters(lesions: list[TargetLesion], expected: float) -> None:
    """Eisenhauer 2009 §4.2/§4.3.1 and the EORTC RECIST Q&A (facts file section 5): nodes by short axis,
    kept even below 10 mm; "too small to measure" = 5 mm; disappeared = 0 mm."""
    assert compute_sum_of_diameters(lesions) == pytest.approx(expected)


def test_too_small_default_is_5_mm() -> None:
    """RECIST 1.1 appendix / EORTC Q&A (facts file section 5): a lesion too small to measure counts 5 mm."""
    assert TOO_SMALL_MM == 5.0
    assert lesion_size_mm(liver(None, too_small=True)) == 5.0
    assert lesion_size_mm(liver(None)) is None
    assert lesion_size_mm(node(8.0)) == 8.0


def test_all_measured_flags_unmeasured_lesions() -> None:
    """RECIST 1.1 §4.3.3: a partly measured assessment is not a complete sum."""
    assert all_measured([liver(10.0), liver(None, too_small=True, lesion_id="T2")])
    assert not all_measured([liver(10.0), liver(None, lesion_id="T2")])


@pytest.mark.parametrize(
    ("value", "reference", "expected"),
    [
        pytest.param(70.0, 100.0, -30.0, id="decrease"),
        pytest.param(60.0, 50.0, 20.0, id="increase"),
        pytest.param(5.0, 0.0, None, id="zero_reference_has_no_percent"),
    ],
)
def test_percent_change(value: float, reference: float, expected: float | None) -> None:
    """Percent change used for PR (vs baseline) and PD (vs nadir), RECIST 1.1 §4.3.1."""
    result = compute_pct_change(value, reference)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)
