"""Eligibility of EVER-132-002 (trialtwin.engine.eligibility): one row per criterion clause.

Criteria and thresholds come from the study file (src/trialtwin/protocol/studies/ever-132-002.yaml, verbatim
registry text of NCT04639986; the I7 lab thresholds are the file's documented assumption).
"""

from __future__ import annotations

from typing import Any

import pytest

from trialtwin.engine.eligibility import (
    NOT_COMPUTABLE,
    CriterionOutcome,
    EligibilityStatus,
    compile_eligibility,
    evaluate_eligibility,
)
from trialtwin.engine.facts import FactsError
from trialtwin.protocol import Protocol, protocol_from_data, protocol_to_data

MET, NOT_MET, UNKNOWN = CriterionOutcome.MET, CriterionOutcome.NOT_MET, CriterionOutcome.UNKNOWN
DROP = object()  # marks a fact to remove (missing)

#: A patient who meets every criterion of EVER-132-002.
BASE: dict[str, Any] = {
    "age": 52,
    "sex": "female",
    "healthy_volunteer": False,
    "hr_positive": True,
    "her2_negative": True,
    "metastatic_breast_cancer": True,
    "prior_chemo_lines_mbc": 3,
    "prior_taxane": True,
    "prior_endocrine_therapy": True,
    "prior_cdk46_inhibitor": True,
    "tpc_eligible": True,
    "progression_after_last_therapy": True,
    "measurable_disease": True,
    "bone_only_disease": False,
    "visceral_metastasis": True,
    "liver_metastases": False,
    "anc": 2.0,
    "platelets": 200,
    "hemoglobin": 11.0,
    "total_bilirubin": 0.8,
    "ast": 1.0,
    "alt": 1.0,
    "creatinine_clearance": 90,
    "pregnant": False,
    "lactating": False,
    "brain_metastases": False,
    "active_second_malignancy_3y": False,
    "active_hbv": False,
    "active_hcv": False,
    "serious_infection_antibiotics_7d": False,
    "confounding_condition": False,
    "hypersensitivity_to_study_treatment": False,
}


def _facts(**changes: Any) -> dict[str, Any]:
    out = dict(BASE)
    for name, value in changes.items():
        if value is DROP:
            out.pop(name)
        else:
            out[name] = value
    return out


# (row id, criterion, changes to BASE, expected outcome, text expected in the reason)
CLAUSES: list[tuple[str, str, dict[str, Any], CriterionOutcome, str]] = [
    # registry: minimum age 18 years, no healthy volunteers
    ("age-18-met", "AGE-MIN", {"age": 18}, MET, "Age 18 years ≥ 18 years"),
    ("age-under-18", "AGE-MIN", {"age": 17.9}, NOT_MET, "Age 17.9 years below 18 years"),
    ("age-missing", "AGE-MIN", {"age": DROP}, UNKNOWN, "missing facts: age (Age)"),
    ("healthy-volunteer", "HV", {"healthy_volunteer": True}, NOT_MET, "Healthy volunteer: yes"),
    ("healthy-volunteer-missing", "HV", {"healthy_volunteer": DROP}, UNKNOWN, "healthy_volunteer"),
    # I1 HR+/HER2- MBC
    ("I1-met", "I1", {}, MET, "Hormone receptor-positive"),
    ("I1-hr-negative", "I1", {"hr_positive": False}, NOT_MET, "Hormone receptor-positive (ER and/or PgR): no"),
    ("I1-her2-positive", "I1", {"her2_negative": False}, NOT_MET, "HER2-negative (IHC 0/1+"),
    ("I1-not-metastatic", "I1", {"metastatic_breast_cancer": False}, NOT_MET, "metastatic breast cancer: no"),
    ("I1-missing", "I1", {"hr_positive": DROP}, UNKNOWN, "missing facts: hr_positive"),
    # I2 2-4 prior chemotherapy regimens for MBC
    ("I2-one-line", "I2", {"prior_chemo_lines_mbc": 1}, NOT_MET, "for MBC 1 below 2"),
    ("I2-two-lines", "I2", {"prior_chemo_lines_mbc": 2}, MET, "for MBC 2 ≥ 2"),
    ("I2-four-lines", "I2", {"prior_chemo_lines_mbc": 4}, MET, "for MBC 4 ≤ 4"),
    ("I2-five-lines", "I2", {"prior_chemo_lines_mbc": 5}, NOT_MET, "for MBC 5 above 4"),
    ("I2-missing", "I2", {"prior_chemo_lines_mbc": DROP}, UNKNOWN, "prior_chemo_lines_mbc"),
    # I3 prior taxane and prior endocrine therapy
    ("I3-no-taxane", "I3", {"prior_taxane": False}, NOT_MET, "taxane (any setting): no"),
    ("I3-no-endocrine", "I3", {"prior_endocrine_therapy": False}, NOT_MET, "hormonal treatment (any setting): no"),
    ("I3-missing", "I3", {"prior_taxane": DROP}, UNKNOWN, "prior_taxane"),
    # I4 eligible for a TPC option
    ("I4-met", "I4", {}, MET, "TPC chemotherapy option: yes"),
    ("I4-not-eligible-for-tpc", "I4", {"tpc_eligible": False}, NOT_MET, "TPC chemotherapy option: no"),
    ("I4-missing", "I4", {"tpc_eligible": DROP}, UNKNOWN, "tpc_eligible"),
    # I5 radiographic progression after the last therapy
    ("I5-no-progression", "I5", {"progression_after_last_therapy": False}, NOT_MET, "most recent therapy: no"),
    ("I5-missing", "I5", {"progression_after_last_therapy": DROP}, UNKNOWN, "progression_after_last_therapy"),
    # I6 measurable disease, not bone-only
    ("I6-not-measurable", "I6", {"measurable_disease": False}, NOT_MET, "RECIST 1.1: no"),
    ("I6-bone-only", "I6", {"bone_only_disease": True}, NOT_MET, "Bone-only disease: yes"),
    ("I6-missing", "I6", {"bone_only_disease": DROP}, UNKNOWN, "bone_only_disease"),
    # I7 laboratory thresholds, at their boundaries
    ("I7-anc-1.5", "I7", {"anc": 1.5}, MET, "Absolute neutrophil count 1.5×10⁹/L ≥ 1.5×10⁹/L"),
    ("I7-anc-1.49", "I7", {"anc": 1.49}, NOT_MET, "Absolute neutrophil count 1.49×10⁹/L below 1.5×10⁹/L"),
    ("I7-platelets-100", "I7", {"platelets": 100}, MET, "Platelet count 100×10⁹/L ≥ 100×10⁹/L"),
    ("I7-platelets-99", "I7", {"platelets": 99}, NOT_MET, "Platelet count 99×10⁹/L below 100×10⁹/L"),
    ("I7-hb-9", "I7", {"hemoglobin": 9}, MET, "Haemoglobin 9 g/dL ≥ 9 g/dL"),
    ("I7-hb-8.9", "I7", {"hemoglobin": 8.9}, NOT_MET, "Haemoglobin 8.9 g/dL below 9 g/dL"),
    ("I7-bili-1.5", "I7", {"total_bilirubin": 1.5}, MET, "1.5×ULN ≤ 1.5×ULN"),
    ("I7-bili-1.6", "I7", {"total_bilirubin": 1.6}, NOT_MET, "Total bilirubin (multiple of ULN) 1.6×ULN above 1.5×ULN"),
    ("I7-ast-2.5", "I7", {"ast": 2.5}, MET, "AST (multiple of ULN) 2.5×ULN ≤ 2.5×ULN"),
    ("I7-ast-2.6", "I7", {"ast": 2.6}, NOT_MET, "AST (multiple of ULN) 2.6×ULN above 2.5×ULN"),
    ("I7-alt-2.5", "I7", {"alt": 2.5}, MET, "ALT (multiple of ULN) 2.5×ULN ≤ 2.5×ULN"),
    ("I7-alt-2.6", "I7", {"alt": 2.6}, NOT_MET, "ALT (multiple of ULN) 2.6×ULN above 2.5×ULN"),
    ("I7-crcl-60", "I7", {"creatinine_clearance": 60}, MET, "60 mL/min ≥ 60 mL/min"),
    ("I7-crcl-59", "I7", {"creatinine_clearance": 59.9}, NOT_MET, "59.9 mL/min below 60 mL/min"),
    ("I7-missing-anc", "I7", {"anc": DROP}, UNKNOWN, "missing facts: anc (Absolute neutrophil count)"),
    # I7 liver metastases: AST/ALT up to 5×ULN
    ("I7-liver-ast-5", "I7", {"liver_metastases": True, "ast": 5}, MET, "Liver metastases: yes"),
    ("I7-liver-ast-5.1", "I7", {"liver_metastases": True, "ast": 5.1}, NOT_MET, "5.1×ULN above 5×ULN"),
    ("I7-liver-alt-5", "I7", {"liver_metastases": True, "alt": 5}, MET, "ALT (multiple of ULN) 5×ULN ≤ 5×ULN"),
    ("I7-liver-alt-5.1", "I7", {"liver_metastases": True, "alt": 5.1}, NOT_MET, "5.1×ULN above 5×ULN"),
    ("I7-no-liver-ast-4", "I7", {"liver_metastases": False, "ast": 4}, NOT_MET, "Liver metastases: no"),
    ("I7-liver-unknown-ast-4", "I7", {"liver_metastases": DROP, "ast": 4}, UNKNOWN, "liver_metastases"),
    (
        "I7-liver-unknown-ast-2",
        "I7",
        {"liver_metastases": DROP, "ast": 2},
        MET,
        "AST (multiple of ULN) 2×ULN ≤ 2.5×ULN",
    ),
    # I8 not pregnant or lactating (females)
    ("I8-female-neither", "I8", {}, MET, "Pregnant (positive beta-hCG): no; Lactating: no"),
    (
        "I8-female-pregnant",
        "I8",
        {"pregnant": True},
        NOT_MET,
        "Sex: female, not male; Pregnant (positive beta-hCG): yes",
    ),
    ("I8-female-lactating", "I8", {"lactating": True}, NOT_MET, "Lactating: yes"),
    ("I8-female-missing", "I8", {"pregnant": DROP}, UNKNOWN, "missing facts: pregnant"),
    ("I8-male", "I8", {"sex": "male", "pregnant": DROP, "lactating": DROP}, MET, "Sex: male"),
    ("I8-sex-missing-not-pregnant", "I8", {"sex": DROP}, MET, "Pregnant (positive beta-hCG): no"),
    ("I8-sex-missing-pregnant", "I8", {"sex": DROP, "pregnant": True}, UNKNOWN, "missing facts: sex (Sex)"),
    # exclusions: met = the patient has the excluding condition
    ("E1-brain-mets", "E1", {"brain_metastases": True}, MET, "Known brain metastases: yes"),
    ("E1-none", "E1", {}, NOT_MET, "Known brain metastases: no"),
    ("E1-missing", "E1", {"brain_metastases": DROP}, UNKNOWN, "brain_metastases"),
    ("E2-second-malignancy", "E2", {"active_second_malignancy_3y": True}, MET, "within 3 years before consent: yes"),
    ("E2-none", "E2", {}, NOT_MET, "within 3 years before consent: no"),
    ("E2-missing", "E2", {"active_second_malignancy_3y": DROP}, UNKNOWN, "active_second_malignancy_3y"),
    ("E3-hbv", "E3", {"active_hbv": True}, MET, "Active hepatitis B (measurable viral load): yes"),
    ("E3-hcv", "E3", {"active_hcv": True}, MET, "Active hepatitis C (measurable viral RNA by PCR): yes"),
    ("E3-none", "E3", {}, NOT_MET, "Active hepatitis B (measurable viral load): no; Active hepatitis C"),
    ("E3-hbv-missing", "E3", {"active_hbv": DROP}, UNKNOWN, "active_hbv"),
    ("E3-hbv-missing-hcv", "E3", {"active_hbv": DROP, "active_hcv": True}, MET, "hepatitis C"),
    ("E4-infection", "E4", {"serious_infection_antibiotics_7d": True}, MET, "before C1D1: yes"),
    ("E4-none", "E4", {}, NOT_MET, "before C1D1: no"),
    ("E4-missing", "E4", {"serious_infection_antibiotics_7d": DROP}, UNKNOWN, "serious_infection_antibiotics_7d"),
    ("E5-confounding", "E5", {"confounding_condition": True}, MET, "(investigator's opinion): yes"),
    ("E5-none", "E5", {}, NOT_MET, "(investigator's opinion): no"),
    ("E5-missing", "E5", {"confounding_condition": DROP}, UNKNOWN, "confounding_condition"),
    ("E6-hypersensitivity", "E6", {"hypersensitivity_to_study_treatment": True}, MET, "or excipient: yes"),
    ("E6-none", "E6", {}, NOT_MET, "or excipient: no"),
    ("E6-missing", "E6", {"hypersensitivity_to_study_treatment": DROP}, UNKNOWN, "hypersensitivity_to_study"),
]


@pytest.mark.parametrize(
    ("row", "criterion", "changes", "expected", "reason"), CLAUSES, ids=[row[0] for row in CLAUSES]
)
def test_criterion_clause(
    ever: Protocol, row: str, criterion: str, changes: dict[str, Any], expected: CriterionOutcome, reason: str
) -> None:
    result = evaluate_eligibility(ever, _facts(**changes))
    c = result.result(criterion)
    assert c.result is expected
    assert reason in c.reason
    # the verdict follows the single changed criterion
    if c.excludes:
        assert result.status is EligibilityStatus.NOT_ELIGIBLE
    elif expected is UNKNOWN:
        assert result.status is EligibilityStatus.INCOMPLETE
    else:
        assert result.status is EligibilityStatus.ELIGIBLE


def test_base_patient_is_eligible(ever: Protocol) -> None:
    result = evaluate_eligibility(ever, BASE)
    assert result.status is EligibilityStatus.ELIGIBLE and result.eligible
    assert result.failed() == () and result.unknown() == ()
    inclusion = [c.result for c in result.criteria if c.kind == "inclusion"]
    exclusion = [c.result for c in result.criteria if c.kind == "exclusion"]
    assert set(inclusion) == {MET} and set(exclusion) == {NOT_MET}


def test_criteria_order_registry_rules_first(ever: Protocol) -> None:
    """Registry rules (age, healthy volunteers) come first, then I1..I8, E1..E6 in file order."""
    ids = [c.id for c in evaluate_eligibility(ever, BASE).criteria]
    assert ids == ["AGE-MIN", "HV", *(f"I{i}" for i in range(1, 9)), *(f"E{i}" for i in range(1, 7))]


def test_not_eligible_wins_over_incomplete(ever: Protocol) -> None:
    """A failed criterion makes the verdict not_eligible even when other facts are missing."""
    result = evaluate_eligibility(ever, _facts(anc=1.0, age=DROP))
    assert result.status is EligibilityStatus.NOT_ELIGIBLE
    assert [c.id for c in result.failed()] == ["I7"]
    assert [c.id for c in result.unknown()] == ["AGE-MIN"]


def test_incomplete_lists_missing_facts(ever: Protocol) -> None:
    result = evaluate_eligibility(ever, _facts(anc=None, brain_metastases=DROP, liver_metastases=DROP))
    assert result.status is EligibilityStatus.INCOMPLETE
    assert result.missing_facts() == ("anc", "brain_metastases")


def test_empty_facts_are_incomplete(ever: Protocol) -> None:
    result = evaluate_eligibility(ever, {})
    assert result.status is EligibilityStatus.INCOMPLETE
    assert all(c.result is UNKNOWN for c in result.criteria)


def test_i7_reason_lists_only_the_failing_labs(ever: Protocol) -> None:
    reason = evaluate_eligibility(ever, _facts(anc=1.2, platelets=80)).result("I7").reason
    assert reason == "Absolute neutrophil count 1.2×10⁹/L below 1.5×10⁹/L; Platelet count 80×10⁹/L below 100×10⁹/L"


def test_to_dict_shape(ever: Protocol) -> None:
    data = evaluate_eligibility(ever, _facts(brain_metastases=True)).to_dict()
    assert list(data) == ["eligible", "status", "criteria"]
    assert data["eligible"] is False and data["status"] == "not_eligible"
    assert all(list(c) == ["id", "kind", "result", "reason"] for c in data["criteria"])
    assert data["criteria"][10] == {
        "id": "E1",
        "kind": "exclusion",
        "result": "met",
        "reason": "Known brain metastases: yes",
    }


def test_validation_is_applied(ever: Protocol) -> None:
    with pytest.raises(FactsError, match="anc: expected a number in 10\\^9/L"):
        evaluate_eligibility(ever, _facts(anc="low"))


def test_unvalidated_fast_path_gives_the_same_result(ever: Protocol) -> None:
    facts = _facts(ast=3.0, liver_metastases=True, pregnant=DROP)
    assert evaluate_eligibility(ever, facts, validate=False) == evaluate_eligibility(ever, facts)


def test_result_keeps_its_own_copy_of_the_facts(ever: Protocol) -> None:
    """Reasons are built on read; changing the caller's dict afterwards must not change them."""
    facts = _facts(anc=1.2)
    result = evaluate_eligibility(ever, facts, validate=False)
    facts["anc"] = 3.0
    assert "1.2×10⁹/L below" in result.result("I7").reason


def test_compiled_once_per_protocol(ever: Protocol) -> None:
    assert compile_eligibility(ever) is compile_eligibility(ever)


def test_tropics_has_its_own_criteria(tropics: Protocol) -> None:
    """Nothing is hard-coded to EVER-132-002: TROPiCS-02 screens with its own criteria."""
    result = evaluate_eligibility(tropics, {"age": 50, "brain_metastases": True})
    assert result.status is EligibilityStatus.NOT_ELIGIBLE
    assert [c.id for c in result.failed()] == ["E1"]


# ---- criteria without a computable rule -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_judgement(ever: Protocol) -> Protocol:
    """EVER-132-002 plus an inclusion (I9) and an exclusion (E7) criterion kept as text only."""
    data = protocol_to_data(ever)
    data["eligibility"]["criteria"] += [
        {"id": "I9", "kind": "inclusion", "text": "Life expectancy of at least 3 months"},
        {"id": "E7", "kind": "exclusion", "text": "Any condition the investigator considers unsafe"},
    ]
    return protocol_from_data(data, "test")


def test_rule_less_criterion_is_unknown(with_judgement: Protocol) -> None:
    result = evaluate_eligibility(with_judgement, BASE)
    assert result.status is EligibilityStatus.INCOMPLETE
    assert [(c.id, c.result, c.reason) for c in result.unknown()] == [
        ("I9", UNKNOWN, NOT_COMPUTABLE),
        ("E7", UNKNOWN, NOT_COMPUTABLE),
    ]
    assert result.missing_facts() == ()


@pytest.mark.parametrize(
    ("i9", "e7", "status"),
    [
        (True, False, EligibilityStatus.ELIGIBLE),
        (False, False, EligibilityStatus.NOT_ELIGIBLE),
        (True, True, EligibilityStatus.NOT_ELIGIBLE),
    ],
    ids=["judged-ok", "inclusion-judged-not-met", "exclusion-judged-present"],
)
def test_criteria_overrides_decide_rule_less_criteria(
    with_judgement: Protocol, i9: bool, e7: bool, status: EligibilityStatus
) -> None:
    result = evaluate_eligibility(with_judgement, _facts(criteria_overrides={"I9": i9, "E7": e7}))
    assert result.status is status
    assert result.result("I9").reason.startswith("investigator judgement: ")


def test_override_of_a_computable_criterion_is_refused(with_judgement: Protocol) -> None:
    with pytest.raises(FactsError, match=r"criteria_overrides\.I7: this criterion has a computable rule"):
        evaluate_eligibility(with_judgement, _facts(criteria_overrides={"I7": True}))
