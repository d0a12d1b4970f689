"""Relative dose intensity and adverse-event incidence (trialtwin.analysis.safety).

Reference values are worked by hand in each test's docstring from the definitions cited in the module
(Hryniuk & Bush 1984 for RDI; subjects-not-events incidence, ICH E3 §12.2).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trialtwin.analysis import AnalysisInputError
from trialtwin.analysis.safety import DosingSchedule, adverse_event_incidence, dose_intensity

START = pd.Timestamp("2021-03-01")
SG = {"sacituzumab govitecan": DosingSchedule(doses_per_cycle=2, cycle_length_days=21)}


def _exposure(rows: list[tuple[str, int, int, int, str, float]]) -> pd.DataFrame:
    """rows: (subject, day since start, cycle, cycle day, action, dose)."""
    return pd.DataFrame(
        [
            {
                "subject_id": sid,
                "date": START + pd.Timedelta(days=day),
                "cycle": cycle,
                "cycle_day": cday,
                "drug": "sacituzumab govitecan",
                "action": action,
                "planned_dose": 10.0,
                "dose": dose,
            }
            for sid, day, cycle, cday, action, dose in rows
        ]
    )


FULL = [("B", 0, 1, 1, "give", 10.0), ("B", 7, 1, 8, "give", 10.0), ("B", 21, 2, 1, "give", 10.0)]
FULL += [("B", 28, 2, 8, "give", 10.0)]
MODIFIED = [
    ("A", 0, 1, 1, "give", 10.0),
    ("A", 7, 1, 8, "give", 10.0),
    ("A", 21, 2, 1, "hold", 0.0),
    ("A", 28, 2, 1, "give", 10.0),
    ("A", 35, 2, 8, "reduce", 7.5),
]


def test_full_dose_on_schedule_is_100_percent() -> None:
    """Two cycles on time: period = 28 − 0 + (21 − 8) + 1 = 42 days; planned = 10 × 2 × 42/21 = 40 = given."""
    out = dose_intensity(_exposure(FULL), SG).set_index("subject_id")
    assert out.loc["B", "period_days"] == 42.0
    assert out.loc["B", "planned_dose"] == pytest.approx(40.0)
    assert out.loc["B", "relative_dose_intensity"] == pytest.approx(1.0)
    assert (out.loc["B", "cycles"], out.loc["B", "doses_given"], out.loc["B", "holds"]) == (2, 4, 0)


def test_delay_and_reduction_lower_the_rdi() -> None:
    """Held one week then reduced to 7.5: given 37.5; period = 35 + 13 + 1 = 49 days; planned = 10 × 2 × 49/21
    = 46.667; RDI = 37.5 / 46.667 = 0.8036."""
    out = dose_intensity(_exposure(MODIFIED + FULL), SG).set_index("subject_id")
    a = out.loc["A"]
    assert a["cumulative_dose"] == 37.5
    assert a["period_days"] == 49.0
    assert a["relative_dose_intensity"] == pytest.approx(37.5 / (10 * 2 * 49 / 21))
    assert (a["holds"], a["reductions"], a["omissions"], bool(a["discontinued"])) == (1, 1, 0, False)


def test_rows_after_cutoff_are_unknown() -> None:
    """Cut-off on day 10: only cycle 1 is known (period 7 + 13 + 1 = 21 days, RDI 1)."""
    out = dose_intensity(_exposure(MODIFIED), SG, cutoff=(START + pd.Timedelta(days=10)).date())
    assert out["doses_given"].tolist() == [2]
    assert out["relative_dose_intensity"].tolist() == [pytest.approx(1.0)]


def test_drug_without_schedule_is_named() -> None:
    with pytest.raises(AnalysisInputError, match="'sacituzumab govitecan' has no planned schedule"):
        dose_intensity(_exposure(FULL), {"eribulin": DosingSchedule(2, 21)})


def test_schedule_match_ignores_case() -> None:
    out = dose_intensity(_exposure(FULL), {"Sacituzumab Govitecan": DosingSchedule(2, 21)}, cutoff=dt.date(2030, 1, 1))
    assert out["relative_dose_intensity"].tolist() == [pytest.approx(1.0)]


EVENTS = pd.DataFrame(
    {
        "USUBJID": ["1", "1", "2", "3", "4"],
        "AEDECOD": ["Nausea", "Nausea", "Nausea", "Diarrhea", "Nausea"],
        "AETOXGR": [1, 3, 2, 1, 4],
    }
)
POPULATION = pd.DataFrame({"USUBJID": ["1", "2", "3", "5"], "ACTARMCD": ["a", "a", "b", "b"]})


@pytest.mark.parametrize(
    ("min_grade", "term", "group", "n"),
    [
        pytest.param(1, "Nausea", "a", 2, id="subject-counted-once-per-term"),
        pytest.param(1, "ANY", "a", 2, id="any-term-counts-subjects"),
        pytest.param(3, "Nausea", "a", 1, id="grade-3-or-worse-only"),
        pytest.param(1, "Diarrhea", "a", 0, id="group-without-the-term-is-zero"),
        pytest.param(1, "Diarrhea", "b", 1, id="other-group"),
    ],
)
def test_incidence(min_grade: int, term: str, group: str, n: int) -> None:
    """Subject 4 is outside the population (not counted); denominators: 2 subjects per group."""
    table = adverse_event_incidence(EVENTS, POPULATION, min_grade=min_grade)
    assert int(table.loc[(term, group), "n"]) == n
    assert int(table.loc[(term, group), "N"]) == 2
    assert table.loc[(term, group), "percent"] == pytest.approx(50.0 * n)


def test_incidence_missing_column_is_named() -> None:
    with pytest.raises(AnalysisInputError, match=r"population: missing column\(s\) \['ACTARMCD'\]"):
        adverse_event_incidence(EVENTS, POPULATION.drop(columns="ACTARMCD"))
