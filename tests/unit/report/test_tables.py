"""Report tables: rows and values on the hand-made datasets of conftest.py.

Reference values: the counts listed in conftest.py (worked by hand) and, for estimates, the analysis functions
themselves (kaplan_meier, compare_arms, response_rate, rate_difference, cmh_test) formatted as the table does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from trialtwin.analysis import cmh_test, kaplan_meier, rate_difference, response_rate
from trialtwin.protocol import Protocol
from trialtwin.report import (
    compare_arms,
    table_baseline,
    table_disposition,
    table_dose_intensity,
    table_key_results,
    table_published_vs_trial,
    table_response,
    table_safety,
    table_tte,
)
from trialtwin.report._common import fmt_ci, fmt_p, reference_arm, treatment_arms

CUTOFF = dt.date(2022, 6, 30)


@pytest.mark.parametrize(
    ("section", "row", "column", "value"),
    [
        pytest.param("Age (years)", "n", "SG", "6", id="age-n"),
        pytest.param("Age (years)", "Median", "TPC", "54.5", id="age-median"),
        pytest.param("Age group", "≥ 65 years", "Total", "3 (25.0%)", id="age-group"),
        pytest.param("Sex", "Male", "TPC", "1 (16.7%)", id="sex-male"),
        pytest.param("Sex", "Female", "Total", "11 (91.7%)", id="sex-total"),
        pytest.param("Country", "Taiwan", "SG", "2 (33.3%)", id="country"),
        pytest.param("Country", "South Korea", "SG", "0", id="country-zero-shown-as-0"),
        pytest.param(
            "Prior systemic chemotherapy lines for MBC (as randomized)", "2 lines", "SG", "3 (50.0%)", id="stratum"
        ),
        pytest.param("Visceral metastasis (as randomized)", "No visceral metastasis", "TPC", "2 (33.3%)", id="strat2"),
    ],
)
def test_baseline(
    small_adam: dict[str, pd.DataFrame],
    small_arms: Any,
    ever: Protocol,
    section: str,
    row: str,
    column: str,
    value: str,
) -> None:
    table = table_baseline(small_adam["ADSL"], arms=small_arms, protocol=ever)
    assert table.loc[(section, row), column] == value
    assert table.attrs["column_n"] == {"SG": 6, "TPC": 6, "Total": 12}


def test_disposition(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    """Treatment discontinued: SG 6/6, TPC 4/6 (T02 adverse event, T03 death, T01/T04 progression)."""
    table = table_disposition(small_adam["ADSL"], arms=small_arms)
    assert table.loc[("Treatment discontinued", ""), "SG"] == "6 (100.0%)"
    assert table.loc[("Treatment discontinued", "Adverse event"), "TPC"] == "1 (16.7%)"
    assert table.loc[("Treatment discontinued", "Progressive disease"), "TPC"] == "2 (33.3%)"
    assert table.loc[("Deaths", ""), "Total"] == "6 (50.0%)"


def _pfs(adam: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return adam["ADTTE"][adam["ADTTE"]["PARAMCD"] == "PFS"]


def test_tte_counts_and_range(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    """PFS events SG 4/6, TPC 5/6; SG range 2.0 to 12.0 censored."""
    table = table_tte(small_adam["ADTTE"], "PFS", arms=small_arms)
    assert table.loc[("Patients with event", ""), "SG"] == "4 (66.7%)"
    assert table.loc[("Patients with event", "Disease progression"), "TPC"] == "5 (83.3%)"
    assert table.loc[("Patients censored", "No event by data cut-off"), "SG"] == "2 (33.3%)"
    assert table.loc[("Time to event (months)", "Range"), "SG"] == "2.0, 12.0+"
    assert table.loc[("Time to event (months)", "Range"), "TPC"] == "1.0, 7.0"
    assert table.loc[("6 months", "Patients remaining at risk"), "SG"] == "4"


def test_tte_estimates_match_analysis(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    rows = _pfs(small_adam)
    table = table_tte(small_adam["ADTTE"], "PFS", arms=small_arms)
    km = kaplan_meier(rows["AVAL"], 1 - rows["CNSR"], rows["ARMCD"])
    for arm, short in (("sg", "SG"), ("tpc", "TPC")):
        assert table.loc[("Time to event (months)", "Median (95% CI)"), short] == fmt_ci(*km.curve(arm).quantile(0.5))
    trt, ref = treatment_arms(small_arms)[0], reference_arm(small_arms)
    plain = compare_arms(rows, trt, ref)
    strat = compare_arms(rows, trt, ref, strata=["STRAT1", "STRAT2", "STRAT3"])
    assert table.loc[("Unstratified analysis", "Hazard ratio vs TPC (95% CI)"), "SG"] == fmt_ci(
        plain.hr, plain.hr_lower, plain.hr_upper, 2
    )
    assert table.loc[("Stratified analysis (3 factors)", "p-value (log-rank, two-sided)"), "SG"] == fmt_p(
        strat.logrank_p
    )
    assert table.loc[("Stratified analysis (3 factors)", "Hazard ratio vs TPC (95% CI)"), "TPC"] == ""
    assert plain.hr != strat.hr
    assert any("Efron" in note for note in table.attrs["footnotes"])


def test_tte_unstratified_only_when_asked(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    table = table_tte(small_adam["ADTTE"], "OS", arms=small_arms, strata=[])
    sections = set(table.index.get_level_values("section"))
    assert "Unstratified analysis" in sections
    assert not any(s.startswith("Stratified") for s in sections)


def test_response(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    """BOR SG: PR 2, SD 2, PD 1, NE 1; ORR SG 2/6 vs TPC 1/6; CMH stratified by STRAT1-3."""
    table = table_response(small_adam["ADRS"], arms=small_arms)
    assert table.loc[("Best overall response (BICR)", "Partial response (PR)"), "SG"] == "2 (33.3%)"
    assert table.loc[("Best overall response (BICR)", "Not evaluable (NE)"), "SG"] == "1 (16.7%)"
    assert table.loc[("Best overall response (BICR)", "Complete response (CR)"), "TPC"] == "0"
    rsp = small_adam["ADRS"][small_adam["ADRS"]["PARAMCD"] == "RSP"]
    responder = (rsp["AVALC"] == "Y").to_numpy()
    rates = response_rate(responder, rsp["ARMCD"]).summary
    orr = "Objective response rate (CR + PR)"
    assert table.loc[(orr, "Rate, % (95% CI)"), "SG"] == fmt_ci(*(100 * rates.loc["sg", ["rate", "lower", "upper"]]))
    diff = rate_difference(responder, rsp["ARMCD"], reference="tpc")
    assert table.loc[(orr, "Difference vs TPC, % (95% CI)"), "SG"] == fmt_ci(
        100 * diff.difference, 100 * diff.lower, 100 * diff.upper
    )
    cmh = cmh_test(responder, rsp["ARMCD"], rsp[["STRAT1", "STRAT2", "STRAT3"]].astype(str), reference="tpc")
    assert table.loc[(orr, "p-value (CMH, stratified)"), "SG"] == fmt_p(cmh.p_value)
    assert table.loc[("Clinical benefit rate", "Responders"), "SG"] == "3 (50.0%)"


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        pytest.param(("Patients with any TEAE", ""), ("SG", "Any grade"), "3 (50.0%)", id="any-teae"),
        pytest.param(("Patients with any TEAE", ""), ("SG", "Grade ≥3"), "2 (33.3%)", id="any-grade-3"),
        pytest.param(
            ("TEAE by term (CTCAE v5.0)", "Neutrophil count decreased"),
            ("SG", "Any grade"),
            "2 (33.3%)",
            id="subject-once-per-term",
        ),
        pytest.param(
            ("TEAE by term (CTCAE v5.0)", "Neutrophil count decreased"), ("TPC", "Grade ≥3"), "0", id="grade-1-only"
        ),
        pytest.param(("TEAE by term (CTCAE v5.0)", "Diarrhea"), ("TPC", "Any grade"), "0", id="pre-dose-not-teae"),
        pytest.param(("Patients with any serious TEAE", ""), ("TPC", "Grade ≥3"), "1 (16.7%)", id="serious"),
    ],
)
def test_safety(
    small_adam: dict[str, pd.DataFrame], small_arms: Any, row: tuple[str, str], column: tuple[str, str], value: str
) -> None:
    table = table_safety(small_adam["ADAE"], small_adam["ADSL"], arms=small_arms)
    assert table.loc[row, column] == value


def test_safety_terms_by_decreasing_incidence(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    table = table_safety(small_adam["ADAE"], small_adam["ADSL"], arms=small_arms)
    terms = [r for s, r in table.index if s == "TEAE by term (CTCAE v5.0)"]
    assert terms == ["Neutrophil count decreased", "Diarrhea", "Nausea"]


def test_dose_intensity_table(
    small_adam: dict[str, pd.DataFrame], small_frames: dict[str, pd.DataFrame], small_arms: Any, ever: Protocol
) -> None:
    """Every subject got two full cycles on time: RDI 100%, no holds or reductions; T02 stopped for an AE."""
    table = table_dose_intensity(small_frames["exposure"], small_adam["ADSL"], ever, arms=small_arms, cutoff=CUTOFF)
    assert table.loc[("Relative dose intensity (%)", "Median (min, max)"), "SG"] == "100.0 (100.0, 100.0)"
    assert table.loc[("Relative dose intensity (%)", "≥ 90%"), "TPC"] == "6 (100.0%)"
    assert table.loc[("Patients with ≥ 1 dose reduction", ""), "SG"] == "0"
    assert table.loc[("Cycles started", "Median (min, max)"), "TPC"] == "2.0 (2.0, 2.0)"
    assert table.loc[("Treatment discontinued for an adverse event", ""), "TPC"] == "1 (16.7%)"


def test_published_vs_trial(small_adam: dict[str, pd.DataFrame], small_arms: Any, ever: Protocol) -> None:
    table = table_published_vs_trial(ever, small_adam, arms=small_arms)
    assert list(table.index) == [v.id for v in ever.published_results]
    assert table.loc["n-sg", "This trial"] == "6"
    assert table.loc["female", "This trial"] == "11"
    rows = _pfs(small_adam)
    cmp = compare_arms(rows, small_arms[0], small_arms[1], strata=["STRAT1", "STRAT2", "STRAT3"])
    assert table.loc["pfs-hr", "This trial"] == fmt_ci(cmp.hr, cmp.hr_lower, cmp.hr_upper, 2)
    assert table.loc["pfs-hr", "Published"] == "0.67 (0.52, 0.87); p = 0.0028"
    inside = cmp.hr_lower <= 0.67 <= cmp.hr_upper
    assert table.loc["pfs-hr", "Published within CI"] == ("yes" if inside else "no")
    assert table.loc["neutropenia-g3-sg", "This trial"] == "33.3"  # S01 (grade 4), S02 (grade 3) of 6
    assert table.loc["pfs-inv-hr", "This trial"] == "—"  # no PFSINV parameter in these datasets
    assert table.loc["pfs-events", "This trial"] == "9"


def test_key_results(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    table = table_key_results(small_adam, arms=small_arms)
    assert table.loc[("Patients randomized (ITT)", ""), "TPC"] == "6"
    assert table.loc[("Progression-Free Survival by BICR", "Events, n (%)"), "TPC"] == "5 (83.3%)"
    assert table.loc[("Patients with a grade ≥ 3 TEAE", ""), "SG"] == "2 (33.3%)"
    assert "stratified log-rank p" in table.loc[("Overall Survival", "Hazard ratio vs TPC (95% CI)"), "SG"]
