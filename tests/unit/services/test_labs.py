"""Lab entry: unit conversion and CTCAE v5.0 grades (NCI CTCAE v5.0, Investigations / Blood and lymphatic system
disorders): neutrophils < LLN-1.5 G1, < 1.5-1.0 G2, < 1.0-0.5 G3, < 0.5 G4 (x 10^9/L); platelets < 75 G2,
< 50 G3, < 25 G4; haemoglobin < 10 G2, < 8 G3 (g/dL); bilirubin > 1.5-3.0 x ULN G2, > 3.0-10 G3; ALT
> 3-5 x ULN G2."""

from __future__ import annotations

import pytest

from trialtwin.services.clinical_common import FieldError
from trialtwin.services.labs import parse_labs


@pytest.mark.parametrize(
    ("labs", "test", "value", "grade"),
    [
        ({"anc": 1.6}, "anc", 1.6, 1),
        ({"anc": 1.2}, "anc", 1.2, 2),
        ({"anc": {"value": 800, "unit": "/uL"}}, "anc", 0.8, 3),
        ({"anc": 0.4}, "anc", 0.4, 4),
        ({"anc": 2.5}, "anc", 2.5, 0),
        ({"anc": {"value": 1.9, "unit": "10^9/L", "lln": 2.0}}, "anc", 1.9, 1),
        ({"platelets": 40.0}, "platelets", 40.0, 3),
        ({"hemoglobin": {"value": 75, "unit": "g/L"}}, "hemoglobin", 7.5, 3),
        ({"bilirubin": 2.0}, "bilirubin", 2.0, 2),
        ({"bilirubin": {"value": 2.4, "unit": "mg/dL", "uln": 1.2}}, "bilirubin", 2.0, 2),
        ({"alt": {"value": 160, "unit": "U/L", "uln": 40}}, "alt", 4.0, 2),
    ],
)
def test_labs_are_converted_and_graded(labs: dict[str, object], test: str, value: float, grade: int) -> None:
    (result,) = parse_labs(labs).results
    assert (result.test, result.value, result.grade) == (test, pytest.approx(value), grade)
    assert getattr(parse_labs(labs).labs, test) == pytest.approx(value)


@pytest.mark.parametrize(
    ("labs", "field"),
    [
        ({"neutrophils": 1.0}, "labs.neutrophils"),
        ({"anc": "low"}, "labs"),
        ({"anc": -1}, "labs"),
        ({"anc": {"value": 1, "unit": "mmol"}}, "labs"),
        ({"anc": {"value": 1.0, "lln": 0}}, "labs.anc.lln"),
        ({"alt": {"value": 1.0, "lln": 1.0}}, "labs.alt.lln"),
        ([1, 2], "labs"),
    ],
)
def test_bad_labs_name_the_field(labs: object, field: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_labs(labs)
    assert caught.value.field == field
