"""A whole record: nadir tracking, input checks, target selection and the JSON edge (RECIST 1.1 §3-§4,
Eisenhauer 2009; facts file section 5)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from trialtwin.engine.recist import (
    Assessment,
    LesionStatus,
    NonTargetLesion,
    RecistInputError,
    RecistRecord,
    ResponseCategory,
    TargetLesion,
    assess_recist,
    evaluate_target_selection,
    parse_record,
    record_from_data,
    record_problems,
    record_to_data,
    result_to_data,
)

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "recist-example.json"
RANDOMIZED = dt.date(2021, 3, 1)
PR = ResponseCategory.PR
SD = ResponseCategory.SD
PD = ResponseCategory.PD
NE = ResponseCategory.NE


def day(n: int) -> dt.date:
    return RANDOMIZED + dt.timedelta(days=n)


def scan(n: int, *sizes: float | None, new: bool = False, bone: str = "present") -> Assessment:
    """Day ``n``: liver targets T1, T2, ... with the given sizes, one bone non-target."""
    targets = tuple(TargetLesion(f"T{i + 1}", "liver" if i < 2 else "lung", False, s) for i, s in enumerate(sizes))
    return Assessment(day(n), targets, (NonTargetLesion("NT1", "bone", False, LesionStatus(bone)),), new)


def record(*assessments: Assessment) -> RecistRecord:
    return RecistRecord(RANDOMIZED, assessments)


# ---- nadir and whole-record behaviour ---------------------------------------------------------------------


def test_pd_is_judged_against_the_running_nadir() -> None:
    """Eisenhauer 2009 §4.3.1: PD is >= 20% and >= 5 mm above the smallest sum on study (baseline included),
    here 30 mm on day 84, although the day-126 sum is still 40% below baseline."""
    result = assess_recist(
        record(scan(-7, 30.0, 30.0), scan(42, 20.0, 15.0), scan(84, 15.0, 15.0), scan(126, 20.0, 16.0))
    )
    assert [tp.nadir_mm for tp in result.timepoints] == [60.0, 35.0, 30.0]
    assert [tp.overall for tp in result.timepoints] == [PR, PR, PD]
    assert result.best_overall_response is PR
    assert result.timepoints[-1].pct_from_baseline == pytest.approx(-40.0)
    assert result.timepoints[-1].pct_from_nadir == pytest.approx(20.0)
    assert result.progression_date == day(126)


def test_incomplete_sum_does_not_update_the_nadir() -> None:
    """Eisenhauer 2009 §4.3.3: a partly measured assessment is NE and gives no sum, so it cannot lower the
    nadir (T2 not measured on day 84: the 10 mm of T1 is not a sum)."""
    result = assess_recist(
        record(scan(-7, 30.0, 30.0), scan(42, 25.0, 25.0), scan(84, 10.0, None), scan(126, 30.0, 30.0))
    )
    assert result.timepoints[1].overall is NE
    assert result.timepoints[2].nadir_mm == 50.0
    assert result.timepoints[2].overall is PD  # 60 vs nadir 50: +20% and +10 mm


def test_new_lesion_sets_progression_date() -> None:
    """Eisenhauer 2009 Table 1: any new lesion is PD; the progression date is that assessment."""
    result = assess_recist(record(scan(-7, 40.0), scan(42, 26.0), scan(84, 25.0, new=True)))
    assert result.timepoints[1].overall is PD
    assert result.progression_date == day(84)
    assert result.best_overall_response is SD  # unconfirmed PR on day 42, SD minimum met


def test_example_file_end_to_end() -> None:
    """docs/examples/recist-example.json: PR on day 42 confirmed on day 84, PD by the nadir rule on day 168
    (51 mm vs nadir 39 mm: +31%, +12 mm), best change -54.65% (39 vs 86 mm)."""
    result = assess_recist(parse_record(EXAMPLE.read_text(encoding="utf-8")))
    assert result.baseline_sum_mm == 86.0
    assert [tp.overall.value for tp in result.timepoints] == ["PR", "PR", "PR", "PD"]
    assert result.best_overall_response is PR
    assert result.best.response_date == dt.date(2021, 4, 12)
    assert result.best.confirmation_date == dt.date(2021, 5, 24)
    assert result.progression_date == dt.date(2021, 8, 16)
    assert result.best_pct_change == pytest.approx((39 - 86) / 86 * 100)


def test_result_to_data_shape() -> None:
    """The JSON output shape of issue 3 point 5: timepoints with sum and percentages, BOR, progression date
    and best percent change."""
    data = result_to_data(assess_recist(parse_record(EXAMPLE.read_text(encoding="utf-8"))))
    assert set(data["timepoints"][0]) >= {
        "date",
        "sum_mm",
        "pct_from_baseline",
        "pct_from_nadir",
        "target",
        "non_target",
        "overall",
    }
    assert data["best_overall_response"] == "PR"
    assert data["progression_date"] == "2021-08-16"
    assert data["best_pct_change"] == -54.65
    json.dumps(data)  # plain JSON


def test_record_round_trips_through_plain_data() -> None:
    """record_to_data writes the input shape that record_from_data reads."""
    original = parse_record(EXAMPLE.read_text(encoding="utf-8"))
    assert record_from_data(record_to_data(original)) == original


# ---- target selection at baseline (RECIST 1.1 §3.3.1) -----------------------------------------------------


def lesion(lesion_id: str, organ: str, size: float | None, *, nodal: bool = False) -> TargetLesion:
    return TargetLesion(lesion_id, organ, nodal, size)


SELECTION = [
    pytest.param(
        tuple(
            lesion(f"T{i}", organ, 20.0)
            for i, organ in enumerate(["liver", "lung", "bone", "skin", "brain", "adrenal"])
        ),
        "allows at most 5",
        id="at_most_5_targets",
    ),
    pytest.param(
        (lesion("T1", "liver", 20.0), lesion("T2", "Liver", 20.0), lesion("T3", "liver ", 20.0)),
        "at most 2 per organ",
        id="at_most_2_per_organ_case_insensitive",
    ),
    pytest.param(
        (
            lesion("N1", "axillary node", 20.0, nodal=True),
            lesion("N2", "mediastinal node", 20.0, nodal=True),
            lesion("N3", "iliac node", 20.0, nodal=True),
        ),
        "organ 'lymph node'",
        id="all_nodes_count_as_one_organ",
    ),
    pytest.param((lesion("T1", "liver", 9.9),), "below 10 mm", id="non_nodal_target_needs_10mm"),
    pytest.param((lesion("N1", "node", 14.9, nodal=True),), "below 15 mm", id="nodal_target_needs_15mm_short_axis"),
    pytest.param((lesion("T1", "liver", None),), "must be measured", id="baseline_target_must_be_measured"),
]


@pytest.mark.parametrize(("targets", "message"), SELECTION)
def test_target_selection_violations(targets: tuple[TargetLesion, ...], message: str) -> None:
    """Eisenhauer 2009 §3.1.1 and §3.3.1 (facts file section 5): at most 5 targets, at most 2 per organ (nodes
    are one organ), non-nodal >= 10 mm, nodes >= 15 mm short axis."""
    selection = evaluate_target_selection(targets)
    assert not selection.valid
    assert any(message in text for _, text in selection.problems)


def test_valid_target_selection() -> None:
    """Eisenhauer 2009 §3.3.1: 5 targets, 2 per organ, a 15 mm node and a 10 mm lesion are all allowed."""
    targets = (
        lesion("T1", "liver", 10.0),
        lesion("T2", "liver", 30.0),
        lesion("T3", "lung", 12.0),
        lesion("N1", "axillary node", 15.0, nodal=True),
        lesion("N2", "iliac node", 22.0, nodal=True),
    )
    assert evaluate_target_selection(targets).valid


# ---- input checks --------------------------------------------------------------------------------------------


def base_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def edit(path: str, value: Any) -> dict[str, Any]:
    """The example with one change; ``path`` like ``assessments.1.target.0.diameter_mm``; ``...`` deletes."""
    data = base_data()
    node: Any = data
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        node = node[part]
    if value is ...:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return data


def six_targets() -> dict[str, Any]:
    data = base_data()
    for k, assessment in enumerate(data["assessments"]):
        assessment["target"] += [
            {"id": f"X{i}", "organ": organ, "nodal": False, "diameter_mm": 20 if k == 0 else 10}
            for i, organ in enumerate(("skin", "brain"))
        ]
    return data


BAD_INPUT = [
    pytest.param(edit("assessments.1.target.0.diameter_mm", -1), "greater than or equal to 0", id="negative_size"),
    pytest.param(edit("assessments.1.target.0.diameter_mm", "12"), "valid number", id="size_not_a_number"),
    pytest.param(edit("assessments.2.date", "2021-04-12"), "not after the previous assessment", id="duplicate_date"),
    pytest.param(
        edit("assessments.2.date", "2021-04-01"), "not after the previous assessment", id="dates_out_of_order"
    ),
    pytest.param(
        edit("assessments.1.date", "2021-02-27"), "not after randomization", id="follow_up_before_randomization"
    ),
    pytest.param(edit("assessments.1.target.0.id", "T9"), "unknown lesion id 'T9'", id="unknown_lesion_id_later"),
    pytest.param(edit("assessments.1.target.0.id", "NT1"), "was not a target lesion", id="non_target_used_as_target"),
    pytest.param(
        edit("assessments.2.target.1", ...), "target lesion 'T2' is missing", id="target_missing_at_follow_up"
    ),
    pytest.param(
        edit("assessments.2.non_target.0", ...), "lesion 'NT1' is missing", id="non_target_missing_at_follow_up"
    ),
    pytest.param(edit("assessments.1.target.3.nodal", False), "nodal is False here but True", id="nodal_flag_changed"),
    pytest.param(
        edit("assessments.1.target.0.too_small", True), "too_small is for a lesion without", id="too_small_with_size"
    ),
    pytest.param(edit("assessments.0.target.0.diameter_mm", 8), "below 10 mm", id="baseline_target_too_small"),
    pytest.param(edit("assessments.0.target.3.diameter_mm", 12), "below 15 mm", id="baseline_node_not_measurable"),
    pytest.param(six_targets(), "allows at most 5", id="more_than_5_targets"),
    pytest.param(edit("assessments.0.target.2.organ", "liver"), "at most 2 per organ", id="more_than_2_per_organ"),
    pytest.param(
        edit("assessments.0.non_target.0.status", "absent"), "must be 'present'", id="baseline_non_target_absent"
    ),
    pytest.param(edit("assessments.0.new_lesions", True), "cannot have new lesions", id="new_lesions_at_baseline"),
    pytest.param(edit("assessments.1.new_lesions", ...), "required at every follow-up", id="new_lesions_missing"),
    pytest.param(edit("assessments.1.date", ...), "Field required", id="missing_date"),
    pytest.param(edit("randomized", ...), "Field required", id="missing_randomized"),
    pytest.param(edit("assessments.1.target.0.organ", ...), "Field required", id="missing_organ"),
    pytest.param(edit("assessments.1.non_target.0.status", "gone"), "present", id="unknown_status"),
    pytest.param(edit("assessments.1.extra", 1), "Extra inputs are not permitted", id="unknown_field"),
    pytest.param(edit("assessments", []), "at least 1 item", id="no_assessments"),
    pytest.param([1, 2], "expected a JSON object", id="not_an_object"),
]


@pytest.mark.parametrize(("data", "message"), BAD_INPUT)
def test_bad_input_is_rejected_with_the_field(data: Any, message: str) -> None:
    """Issue 3 point 5 input rules (RECIST 1.1 §3.3 for target selection): every problem raises
    RecistInputError naming the source and the field."""
    with pytest.raises(RecistInputError) as info:
        record_from_data(data, source="patient.json")
    text = str(info.value)
    assert text.startswith("patient.json: invalid RECIST input")
    assert message in text


def test_malformed_json_names_line_and_column() -> None:
    """Malformed JSON is a user error with its position, not a traceback."""
    with pytest.raises(RecistInputError, match=r"line 1, column 16: not valid JSON"):
        parse_record('{"randomized": ', source="x.json")


def test_assess_recist_checks_by_default() -> None:
    """The core refuses an invalid record (a baseline target missing at follow-up) unless check=False."""
    bad = record(scan(-7, 30.0, 30.0), scan(42, 20.0))
    assert record_problems(bad)
    with pytest.raises(RecistInputError, match="'T2' is missing"):
        assess_recist(bad)


def test_valid_record_has_no_problems() -> None:
    """A well-formed record (lesions may be listed in any order at follow-up) passes every check."""
    follow_up = scan(42, 20.0, 15.0)
    reordered = Assessment(follow_up.date, follow_up.target[::-1], follow_up.non_target, False)
    assert record_problems(record(scan(-7, 30.0, 30.0), reordered)) == []
