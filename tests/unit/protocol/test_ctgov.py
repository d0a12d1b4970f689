"""ClinicalTrials.gov API v2 JSON export and import."""

from __future__ import annotations

import json

import pytest

from trialtwin.protocol import Protocol, load_protocol
from trialtwin.protocol.ctgov import EXTENSION_KEY, from_ctgov, parse_criteria_text, to_ctgov


@pytest.mark.parametrize("study", ["ever-132-002", "tropics-02"])
def test_round_trip_gives_an_equal_protocol(study: str) -> None:
    original = load_protocol(study)
    document = json.loads(json.dumps(to_ctgov(original)))  # through real JSON text
    imported, report = from_ctgov(document)
    assert imported == original
    assert report.not_computable == ()


def test_export_has_the_registry_modules(ever: Protocol) -> None:
    section = to_ctgov(ever)["protocolSection"]
    for module in (
        "identificationModule",
        "statusModule",
        "sponsorCollaboratorsModule",
        "conditionsModule",
        "descriptionModule",
        "designModule",
        "armsInterventionsModule",
        "eligibilityModule",
        "contactsLocationsModule",
        "referencesModule",
        "outcomesModule",
    ):
        assert module in section, module
    assert section["identificationModule"]["nctId"] == "NCT04639986"
    assert section["designModule"]["designInfo"]["maskingInfo"] == {"masking": "NONE"}
    assert section["armsInterventionsModule"]["armGroups"][0]["interventionNames"] == [
        "Drug: Sacituzumab Govitecan-hziy"
    ]
    assert section["eligibilityModule"]["minimumAge"] == "18 Years"
    assert len(section["contactsLocationsModule"]["locations"]) == 43


def test_eligibility_text_block(ever: Protocol) -> None:
    text = to_ctgov(ever)["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    assert text.startswith("Inclusion Criteria:\n\n* Documented evidence")
    assert "\n\nExclusion Criteria:\n\n* Individuals who have known brain metastases." in text
    parsed = parse_criteria_text(text)
    assert [t for _, t in parsed] == [c.text for c in ever.eligibility.criteria]


def test_plain_registry_json_keeps_criteria_as_text(ever: Protocol) -> None:
    """Without the trialtwin extension, criteria stay text and are reported as not computable."""
    plain = {"protocolSection": to_ctgov(ever)["protocolSection"]}
    imported, report = from_ctgov(plain)
    assert [c.text for c in imported.eligibility.criteria] == [c.text for c in ever.eligibility.criteria]
    assert all(c.rule is None for c in imported.eligibility.criteria)
    assert [c.id for c in imported.eligibility.criteria][:2] == ["I1", "I2"]
    assert sum("not computable" in n for n in report.not_computable) == 14
    assert any(n.startswith("regimens") for n in report.not_computable)
    assert len(imported.sites) == 43 and imported.regimens == ()
    # The registry's structured fields stay computable: age >= 18 through the standard facts.
    assert {c.id for c in imported.eligibility.registry_rules()} == {"AGE-MIN", "HV"}


def test_criteria_parser_handles_numbered_and_wrapped_bullets() -> None:
    text = "Inclusion Criteria:\n1. Adults\n   over 18\n2) Consent\n\nExclusion Criteria:\n- Pregnancy\n"
    assert parse_criteria_text(text) == [
        ("inclusion", "Adults over 18"),
        ("inclusion", "Consent"),
        ("exclusion", "Pregnancy"),
    ]


def test_extension_count_mismatch_is_an_error(ever: Protocol) -> None:
    document = to_ctgov(ever)
    document[EXTENSION_KEY]["criteria"] = document[EXTENSION_KEY]["criteria"][:-1]
    from trialtwin.protocol import ProtocolError

    with pytest.raises(ProtocolError, match="eligibility text has 14 criteria but the trialtwin extension has 13"):
        from_ctgov(document, "study.json")
