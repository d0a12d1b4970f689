"""Stratum derivation (trialtwin.engine.strata) for EVER-132-002's three factors (2 × 2 × 2 = 8 strata).

Factors and level rules come from src/trialtwin/protocol/studies/ever-132-002.yaml (stratification: prior
chemotherapy lines 2 vs 3-4, visceral metastasis yes/no, prior CDK4/6 inhibitor yes/no; ESMO Asia 2023 LBA4).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from trialtwin.engine.facts import FactsError
from trialtwin.engine.strata import StrataResult, compile_strata, evaluate_strata
from trialtwin.protocol import Protocol, protocol_from_data, protocol_to_data

FACTORS = ("prior_lines", "visceral", "prior_cdk46")
STRATA = list(itertools.product([2, 3], [True, False], [True, False]))


@pytest.mark.parametrize(
    ("lines", "visceral", "cdk46"),
    STRATA,
    ids=[f"lines{n}-visceral{'Y' if v else 'N'}-cdk46{'Y' if c else 'N'}" for n, v, c in STRATA],
)
def test_all_eight_strata(ever: Protocol, lines: int, visceral: bool, cdk46: bool) -> None:
    facts = {"prior_chemo_lines_mbc": lines, "visceral_metastasis": visceral, "prior_cdk46_inhibitor": cdk46}
    result = evaluate_strata(ever, facts)
    assert result.complete
    assert result.levels == {
        "prior_lines": "2" if lines == 2 else "3-4",
        "visceral": "yes" if visceral else "no",
        "prior_cdk46": "yes" if cdk46 else "no",
    }
    assert result.codes(FACTORS) == tuple(result.levels[f] for f in FACTORS)


def test_the_eight_strata_are_distinct(ever: Protocol) -> None:
    keys = {
        evaluate_strata(ever, {"prior_chemo_lines_mbc": n, "visceral_metastasis": v, "prior_cdk46_inhibitor": c}).codes(
            FACTORS
        )
        for n, v, c in STRATA
    }
    assert len(keys) == 8


@pytest.mark.parametrize(("lines", "code"), [(2, "2"), (3, "3-4"), (4, "3-4")], ids=["2", "3", "4"])
def test_prior_lines_boundaries(ever: Protocol, lines: int, code: str) -> None:
    assert evaluate_strata(ever, {"prior_chemo_lines_mbc": lines}).levels["prior_lines"] == code


def test_missing_factor_is_reported_with_its_fact(ever: Protocol) -> None:
    result = evaluate_strata(ever, {"prior_chemo_lines_mbc": 3, "visceral_metastasis": None})
    assert not result.complete
    assert result.levels == {"prior_lines": "3-4"}
    assert result.missing == {"visceral": ("visceral_metastasis",), "prior_cdk46": ("prior_cdk46_inhibitor",)}
    assert result.to_dict() == {"prior_lines": "3-4", "visceral": None, "prior_cdk46": None}
    with pytest.raises(KeyError, match="'visceral' has no level"):
        result.codes(FACTORS)


def test_strata_are_validated(ever: Protocol) -> None:
    with pytest.raises(FactsError, match="visceral_metastasis: expected true or false"):
        evaluate_strata(ever, {"visceral_metastasis": "yes"})


def _with_levels(ever: Protocol, levels: list[dict[str, Any]]) -> Protocol:
    data = protocol_to_data(ever)
    data["stratification"] = [{"id": "ecog", "name": "ECOG", "levels": levels}]
    data["randomization"]["stratified_by"] = ["ecog"]
    data["published_results"] = [p for p in data["published_results"] if "subgroup" not in p]
    return protocol_from_data(data, "test")


def test_unknown_earlier_level_blocks_a_later_true_level(ever: Protocol) -> None:
    """First true level wins, so an earlier unknown level could still win: the factor stays undecided."""
    protocol = _with_levels(
        ever,
        [
            {"code": "a", "label": "A", "rule": {"fact": "visceral_metastasis", "op": "==", "value": True}},
            {"code": "b", "label": "B", "rule": {"fact": "prior_taxane", "op": "==", "value": True}},
        ],
    )
    assert evaluate_strata(protocol, {"prior_taxane": True}).missing == {"ecog": ("visceral_metastasis",)}
    assert evaluate_strata(protocol, {"prior_taxane": True, "visceral_metastasis": False}).levels == {"ecog": "b"}


def test_level_without_rule_and_unmatched_factor(ever: Protocol) -> None:
    protocol = _with_levels(
        ever,
        [
            {"code": "a", "label": "A", "rule": {"fact": "visceral_metastasis", "op": "==", "value": True}},
            {"code": "b", "label": "B", "rule": {"fact": "prior_taxane", "op": "==", "value": True}},
            {"code": "c", "label": "C (entered by hand)"},
        ],
    )
    result = evaluate_strata(protocol, {"visceral_metastasis": False, "prior_taxane": False})
    assert result.missing == {"ecog": ()} and not result.complete

    gapped = _with_levels(
        ever,
        [
            {
                "code": "a",
                "label": "A",
                "rule": {"fact": "prior_chemo_lines_mbc", "op": "<=", "value": 2, "unit": "count"},
            },
            {
                "code": "b",
                "label": "B",
                "rule": {"fact": "prior_chemo_lines_mbc", "op": "==", "value": 3, "unit": "count"},
            },
        ],
    )
    assert evaluate_strata(gapped, {"prior_chemo_lines_mbc": 4}) == StrataResult({}, {}, ("ecog",))


def test_tropics_strata(tropics: Protocol) -> None:
    """TROPiCS-02's own factors are derived from its own facts (nothing is hard-coded to EVER-132-002)."""
    facts = {"visceral_metastasis": True, "endocrine_therapy_6m_metastatic": False, "prior_chemo_lines_mbc": 4}
    assert evaluate_strata(tropics, facts).levels == {"visceral": "yes", "endocrine_6m": "no", "prior_lines": "3-4"}


def test_compiled_once_per_protocol(ever: Protocol) -> None:
    assert compile_strata(ever) is compile_strata(ever)
