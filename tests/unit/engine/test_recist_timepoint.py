"""Time-point response: target, non-target and overall (RECIST 1.1 §4.3, Eisenhauer 2009 Tables 1 and 2;
facts file section 5)."""

from __future__ import annotations

import datetime as dt

import pytest

from trialtwin.engine.recist import (
    Assessment,
    LesionStatus,
    NonTargetLesion,
    ResponseCategory,
    TargetLesion,
    assess_non_target,
    assess_overall,
    assess_target,
    assess_timepoint,
    is_progression,
)

CR = ResponseCategory.CR
PR = ResponseCategory.PR
SD = ResponseCategory.SD
NN = ResponseCategory.NON_CR_NON_PD
PD = ResponseCategory.PD
NE = ResponseCategory.NE


def lesion(size: float | None, lesion_id: str = "T1", *, too_small: bool = False) -> TargetLesion:
    return TargetLesion(lesion_id, "liver", False, size, too_small)


def node(short_axis: float | None, lesion_id: str = "N1") -> TargetLesion:
    return TargetLesion(lesion_id, "lymph node", True, short_axis)


def nt(status: str, lesion_id: str = "NT1", *, nodal: bool = False) -> NonTargetLesion:
    return NonTargetLesion(lesion_id, "lymph node" if nodal else "bone", nodal, LesionStatus(status))


# ---- target lesions (RECIST 1.1 §4.3.1) --------------------------------------------------------------------

TARGET_ROWS = [
    # (lesions, baseline sum, nadir before this scan, expected)
    pytest.param((lesion(0.0), lesion(0.0, "T2")), 50.0, 30.0, CR, id="cr_all_non_nodal_targets_disappeared"),
    pytest.param((lesion(0.0), node(9.9)), 50.0, 30.0, CR, id="cr_nodal_target_short_axis_below_10mm"),
    pytest.param((lesion(0.0), node(10.0)), 50.0, 30.0, PR, id="not_cr_when_a_node_is_10mm"),
    pytest.param((lesion(None, too_small=True), node(5.0)), 50.0, 30.0, PR, id="not_cr_when_too_small_lesion_left"),
    pytest.param((lesion(70.0),), 100.0, 100.0, PR, id="pr_exactly_30pct_below_baseline"),
    pytest.param((lesion(70.1),), 100.0, 100.0, SD, id="sd_just_under_30pct_decrease"),
    pytest.param((lesion(60.0),), 50.0, 50.0, PD, id="pd_20pct_and_10mm_above_nadir"),
    pytest.param((lesion(59.9),), 50.0, 50.0, SD, id="sd_just_under_20pct_increase"),
    pytest.param((lesion(24.0),), 20.0, 20.0, SD, id="not_pd_20pct_but_less_than_5mm"),
    pytest.param((lesion(55.0),), 50.0, 50.0, SD, id="not_pd_5mm_but_less_than_20pct"),
    pytest.param((lesion(50.0),), 100.0, 40.0, PD, id="pd_measured_from_nadir_not_baseline"),
    pytest.param((lesion(4.0), node(7.0)), 60.0, 7.0, PR, id="not_pd_below_5mm_from_a_small_nadir"),
    pytest.param((lesion(30.0), lesion(None, "T2")), 50.0, 50.0, NE, id="ne_when_a_target_is_not_measured"),
    pytest.param((lesion(10.0), lesion(None, "T2")), 50.0, 50.0, NE, id="ne_even_if_measured_ones_look_like_pr"),
    pytest.param((lesion(80.0), lesion(None, "T2")), 50.0, 50.0, PD, id="pd_from_measured_lesions_despite_missing"),
    pytest.param((lesion(20.0),), 40.0, 20.0, PR, id="pr_at_nadir_with_30pct_decrease"),
]


@pytest.mark.parametrize(("lesions", "baseline", "nadir", "expected"), TARGET_ROWS)
def test_target_response(
    lesions: tuple[TargetLesion, ...], baseline: float, nadir: float, expected: ResponseCategory
) -> None:
    """Eisenhauer 2009 §4.3.1 (facts file section 5): CR = all non-nodal targets gone and nodes < 10 mm;
    PR = >= 30% below BASELINE; PD = >= 20% and >= 5 mm above NADIR; §4.3.3: a missing measurement is NE
    unless the measured lesions already prove PD."""
    assert assess_target(lesions, baseline_sum=baseline, nadir_sum=nadir) is expected


def test_no_target_lesions_has_no_target_response() -> None:
    """Eisenhauer 2009 Table 2: patients with non-target disease only have no target response."""
    assert assess_target((), baseline_sum=0.0, nadir_sum=0.0) is None


def test_pd_after_complete_disappearance_needs_5mm() -> None:
    """Eisenhauer 2009 §4.3.1: from a nadir of 0 mm any reappearance of >= 5 mm is progression
    (20% of 0 is 0, the 5 mm floor decides)."""
    assert is_progression(5.0, 0.0)
    assert not is_progression(4.0, 0.0)
    assert assess_target((lesion(5.0), lesion(0.0, "T2")), baseline_sum=40.0, nadir_sum=0.0) is PD


def test_normal_nodes_growing_stay_cr() -> None:
    """Eisenhauer 2009 §4.3.1: CR allows nodal targets below 10 mm; the engine checks CR first, so nodes that
    grow but stay normal (< 10 mm) are not target progression (no pathological target disease left)."""
    lesions = (node(9.0), node(9.0, "N2"), lesion(0.0))
    assert assess_target(lesions, baseline_sum=60.0, nadir_sum=4.0) is CR


# ---- non-target lesions (RECIST 1.1 §4.3.2) ----------------------------------------------------------------

NON_TARGET_ROWS = [
    pytest.param(("absent", "absent"), CR, id="cr_all_non_target_lesions_absent"),
    pytest.param(("absent",), CR, id="cr_absent_node_counts_as_normal"),
    pytest.param(("present", "absent"), NN, id="non_cr_non_pd_when_one_persists"),
    pytest.param(("present", "unequivocal_progression"), PD, id="pd_unequivocal_progression"),
    pytest.param(("not_evaluated", "unequivocal_progression"), PD, id="pd_wins_over_not_evaluated"),
    pytest.param(("absent", "not_evaluated"), NE, id="ne_when_one_not_evaluated_and_none_pd"),
    pytest.param(("present", "not_evaluated"), NE, id="ne_not_all_evaluated"),
]


@pytest.mark.parametrize(("statuses", "expected"), NON_TARGET_ROWS)
def test_non_target_response(statuses: tuple[str, ...], expected: ResponseCategory) -> None:
    """Eisenhauer 2009 §4.3.2 (facts file section 5): CR = all non-target lesions gone (nodes normal),
    non-CR/non-PD = persistence, PD = unequivocal progression; NE when not all were evaluated."""
    lesions = tuple(nt(s, f"NT{i}", nodal=i == 0) for i, s in enumerate(statuses))
    assert assess_non_target(lesions) is expected


def test_no_non_target_lesions_has_no_non_target_response() -> None:
    """A patient without non-target disease has no non-target response (CR target → CR overall)."""
    assert assess_non_target(()) is None


# ---- overall time-point response (Eisenhauer 2009 Tables 1 and 2) ------------------------------------------

TABLE_1 = [
    pytest.param(CR, CR, False, CR, id="t1_cr_cr_no_new_is_cr"),
    pytest.param(CR, None, False, CR, id="t1_cr_without_non_target_disease_is_cr"),
    pytest.param(CR, NN, False, PR, id="t1_cr_non_cr_non_pd_is_pr"),
    pytest.param(CR, NE, False, PR, id="t1_cr_non_target_not_evaluated_is_pr"),
    pytest.param(PR, NN, False, PR, id="t1_pr_non_pd_is_pr"),
    pytest.param(PR, CR, False, PR, id="t1_pr_non_target_cr_is_pr"),
    pytest.param(PR, NE, False, PR, id="t1_pr_not_all_evaluated_is_pr"),
    pytest.param(SD, NN, False, SD, id="t1_sd_non_pd_is_sd"),
    pytest.param(SD, CR, False, SD, id="t1_sd_non_target_cr_is_sd"),
    pytest.param(SD, NE, False, SD, id="t1_sd_not_all_evaluated_is_sd"),
    pytest.param(NE, NN, False, NE, id="t1_target_not_all_evaluated_non_pd_is_ne"),
    pytest.param(NE, CR, False, NE, id="t1_target_not_evaluated_non_target_cr_is_ne"),
    pytest.param(NE, NE, False, NE, id="t1_nothing_evaluated_is_ne"),
    pytest.param(NE, None, False, NE, id="t1_target_ne_without_non_target_is_ne"),
    pytest.param(PD, CR, False, PD, id="t1_target_pd_any_non_target_is_pd"),
    pytest.param(PD, NE, False, PD, id="t1_target_pd_non_target_ne_is_pd"),
    pytest.param(PD, NN, True, PD, id="t1_target_pd_with_new_is_pd"),
    pytest.param(CR, PD, False, PD, id="t1_any_target_non_target_pd_is_pd"),
    pytest.param(NE, PD, False, PD, id="t1_target_ne_non_target_pd_is_pd"),
    pytest.param(CR, CR, True, PD, id="t1_new_lesion_is_pd_even_at_cr"),
    pytest.param(NE, NE, True, PD, id="t1_new_lesion_is_pd_even_when_ne"),
    pytest.param(SD, None, True, PD, id="t1_new_lesion_is_pd_without_non_target"),
]


@pytest.mark.parametrize(("target", "non_target", "new", "expected"), TABLE_1)
def test_overall_with_target_disease(
    target: ResponseCategory, non_target: ResponseCategory | None, new: bool, expected: ResponseCategory
) -> None:
    """Eisenhauer 2009 Table 1 (facts file section 5): overall time-point response with target disease."""
    assert assess_overall(target, non_target, new) is expected


TABLE_2 = [
    pytest.param(CR, False, CR, id="t2_non_target_cr_is_cr"),
    pytest.param(NN, False, NN, id="t2_non_cr_non_pd_is_non_cr_non_pd"),
    pytest.param(NE, False, NE, id="t2_not_all_evaluated_is_ne"),
    pytest.param(PD, False, PD, id="t2_unequivocal_pd_is_pd"),
    pytest.param(PD, True, PD, id="t2_unequivocal_pd_with_new_is_pd"),
    pytest.param(CR, True, PD, id="t2_new_lesion_is_pd"),
    pytest.param(NE, True, PD, id="t2_new_lesion_is_pd_when_ne"),
    pytest.param(None, False, NE, id="t2_no_lesion_information_is_ne"),
]


@pytest.mark.parametrize(("non_target", "new", "expected"), TABLE_2)
def test_overall_non_target_only(non_target: ResponseCategory | None, new: bool, expected: ResponseCategory) -> None:
    """Eisenhauer 2009 Table 2 (facts file section 5): patients with non-target disease only."""
    assert assess_overall(None, non_target, new) is expected


def test_assess_timepoint_reports_sum_nadir_and_percentages() -> None:
    """Eisenhauer 2009 §4.3.1: PR is judged against the baseline sum, PD against the nadir; a node's short
    axis stays in the sum (facts file section 5)."""
    scan = Assessment(dt.date(2021, 4, 12), (lesion(20.0), node(12.0)), (nt("present"), nt("absent", "NT2")), False)
    tp = assess_timepoint(scan, baseline_sum=64.0, nadir_sum=40.0)
    assert tp.sum_mm == pytest.approx(32.0)
    assert tp.nadir_mm == 40.0
    assert tp.pct_from_baseline == pytest.approx(-50.0)
    assert tp.pct_from_nadir == pytest.approx(-20.0)
    assert (tp.target, tp.non_target, tp.overall) == (PR, NN, PR)


def test_assess_timepoint_incomplete_sum_is_reported_as_none() -> None:
    """Eisenhauer 2009 §4.3.3: with a target not measured there is no complete sum (and no percentages)."""
    scan = Assessment(dt.date(2021, 4, 12), (lesion(20.0), lesion(None, "T2")), (), False)
    tp = assess_timepoint(scan, baseline_sum=64.0, nadir_sum=40.0)
    assert tp.sum_mm is None and tp.pct_from_baseline is None and tp.pct_from_nadir is None
    assert tp.target is NE and tp.overall is NE


def test_assess_timepoint_non_target_only_patient() -> None:
    """Eisenhauer 2009 Table 2: without target lesions there is no sum and the overall response follows the
    non-target response."""
    scan = Assessment(dt.date(2021, 4, 12), (), (nt("present"),), False)
    tp = assess_timepoint(scan, baseline_sum=None, nadir_sum=None)
    assert tp.sum_mm is None and tp.target is None
    assert tp.overall is NN
