"""Completeness of the built-in EVER-132-002 protocol against its registry record.

The record (tests/data/NCT04639986-registry-record.txt, a copy of shared/seed) is parsed here independently of
the protocol file, and every fact found in it must be in the protocol: identifiers, status and dates, sponsor,
design, both arm groups, the five interventions with their doses, all 8 inclusion and 6 exclusion criteria
verbatim, all 43 sites (27 China, 8 South Korea, 8 Taiwan), references and related trials.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from trialtwin.protocol import Protocol

DATA = Path(__file__).parents[2] / "data"
RECORD = (DATA / "NCT04639986-registry-record.txt").read_text(encoding="utf-8").splitlines()


def _section(start: str, end: str) -> list[str]:
    """Record lines strictly between the heading line ``start`` and the next line ``end`` (headings are exact)."""
    i = RECORD.index(start)
    j = RECORD.index(end, i + 1)
    return RECORD[i + 1 : j]


def _bullets(lines: list[str]) -> list[str]:
    return [line[2:] for line in lines if line.startswith("* ")]


def test_identifiers_and_titles(ever: Protocol) -> None:
    assert RECORD[0] == ever.identification.brief_title
    assert f"NCT ID: {ever.identification.nct_id}" == RECORD[1]
    ids = _section("Other Identifiers", "More Related Trials")
    assert ids[ids.index("EVER-132-002") + 2] == "Identifier Source: org_study_id"
    assert ever.identification.org_study_id == "EVER-132-002"
    secondary = {s.id: s for s in ever.identification.secondary_ids}
    assert ids[ids.index("CTR20210096") + 1] == "Identifier Type: REGISTRY"
    assert secondary["CTR20210096"].type == "REGISTRY"


def test_status_dates_and_design(ever: Protocol) -> None:
    basic = _section("Basic Information", "Brief Summary")
    assert ever.status.overall_status in basic
    assert all(phase in basic for phase in ever.status.phases)
    assert f"{ever.enrollment.count} participants" in basic
    assert ever.status.study_type in basic
    assert ever.status.start.date.isoformat() in basic
    assert ever.status.completion is not None and ever.status.completion.date.isoformat() in basic
    assert ever.status.last_update == dt.date.fromisoformat(RECORD[2].removeprefix("Last Updated: "))
    design = _section("Study Design", "Study Groups")
    assert [ever.design.allocation, ever.design.intervention_model] == design[1:3]
    assert [ever.design.primary_purpose, ever.design.masking] == design[3:5]


def test_sponsor_and_officials(ever: Protocol) -> None:
    sponsor = _section("Sponsors", "Responsible Party")
    assert sponsor[1:] == [ever.sponsor.lead_sponsor.name, ever.sponsor.lead_sponsor.class_]
    officials = _section("Principal Investigators", "Locations")
    (official,) = ever.sponsor.officials
    assert [official.name, f"Role: {official.role}", official.affiliation] == officials[1:]


def test_eligibility_structured_fields(ever: Protocol) -> None:
    tail = _section("Exclusion Criteria", "Sponsors")
    age, sex, hv = tail[-3:]
    assert ever.eligibility.minimum_age is not None
    assert age == f"{ever.eligibility.minimum_age.value} Years"
    assert sex == ever.eligibility.sex
    assert hv == ("Yes" if ever.eligibility.healthy_volunteers else "No")


def test_all_criteria_verbatim(ever: Protocol) -> None:
    inclusion = _bullets(_section("Inclusion Criteria", "Exclusion Criteria"))
    exclusion = _bullets(_section("Exclusion Criteria", "Sponsors"))
    assert (len(inclusion), len(exclusion)) == (8, 6)
    assert [c.text for c in ever.eligibility.criteria if c.kind == "inclusion"] == inclusion
    assert [c.text for c in ever.eligibility.criteria if c.kind == "exclusion"] == exclusion


def test_every_criterion_is_computable(ever: Protocol) -> None:
    """Issue 2: each criterion has a computable expression over declared facts (checked by the model)."""
    assert all(c.rule is not None for c in ever.eligibility.all_criteria())


def test_all_43_sites_with_city_and_country(ever: Protocol) -> None:
    lines = _section("Locations", "Countries")[1:]  # first line is the heading's blurb
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
    parsed = []
    for facility, place in pairs:
        city, state, country = (part.strip() for part in place.split(","))
        parsed.append((facility, city, state or None, country))
    assert len(parsed) == 43
    assert [(s.facility, s.city, s.state, s.country) for s in ever.sites] == parsed
    assert Counter(s.country for s in ever.sites) == {"China": 27, "South Korea": 8, "Taiwan": 8}
    assert len({s.id for s in ever.sites}) == 43


def test_arm_groups(ever: Protocol) -> None:
    groups = _section("Study Groups", "Interventions")
    sg, tpc = ever.arms
    assert groups[1] == sg.label and groups[2] == sg.description
    assert tpc.label in groups
    assert tpc.description is not None
    assert _bullets(tpc.description.splitlines()) == _bullets(groups)


def test_interventions_and_their_descriptions(ever: Protocol) -> None:
    lines = _section("Interventions", "Other Intervention Names")[1:]
    pairs = dict(zip(lines[0::2], lines[1::2], strict=True))
    assert {i.name: i.description for i in ever.interventions} == pairs
    assert len(ever.interventions) == 5


@pytest.mark.parametrize(
    ("drug", "pattern"),
    [
        (
            "eribulin",
            r"Eribulin \((?P<amount>[\d.]+) mg/m\\\^2 of eribulin mesylate or (?P<variant>[\d.]+) mg/m"
            r"\\\^2 of eribulin on Days (?P<days>[\d, and]+) of a (?P<cycle>\d+)-day cycle\)",
        ),
        (
            "capecitabine",
            r"Capecitabine \((?P<lo>\d+) to (?P<hi>\d+) mg/m\\\^2 twice daily on Days (?P<d1>\d+) to "
            r"(?P<d2>\d+) of a (?P<cycle>\d+)-day cycle\)",
        ),
        (
            "gemcitabine",
            r"Gemcitabine \((?P<lo>\d+) to (?P<hi>\d+) mg/m\\\^2 on Days (?P<days>[\d, and]+) of a "
            r"(?P<cycle>\d+)-day cycle\)",
        ),
        ("vinorelbine", r"Vinorelbine \((?P<amount>\d+) mg/m\\\^2 on Day (?P<days>\d) weekly\)"),
    ],
)
def test_comparator_doses_match_the_record(ever: Protocol, drug: str, pattern: str) -> None:
    """Each TPC bullet of the record, parsed, equals the regimen's computable dose, days and cycle."""
    text = "\n".join(_section("Study Groups", "Interventions"))
    match = re.search(pattern, text)
    assert match, f"{drug} bullet not found in the record"
    g = match.groupdict()
    reg = ever.regimen(drug)
    assert reg.dose.unit == "mg/m2"
    if "cycle" in g:
        assert reg.cycle_length_days == int(g["cycle"])
    else:  # "weekly"
        assert reg.cycle_length_days == 7
    if "amount" in g:
        assert reg.dose.amount == float(g["amount"])
    if "variant" in g:
        assert [v.amount for v in reg.dose.variants] == [float(g["variant"])]
    if "lo" in g:
        assert reg.dose.range is not None
        assert (reg.dose.range.min, reg.dose.range.max) == (float(g["lo"]), float(g["hi"]))
    if "days" in g:
        assert list(reg.dosing_days) == [int(d) for d in re.findall(r"\d+", g["days"])]
    if "d1" in g:
        assert list(reg.dosing_days) == list(range(int(g["d1"]), int(g["d2"]) + 1))
        assert reg.dose.times_per_day == 2


def test_experimental_dose_matches_the_record(ever: Protocol) -> None:
    groups = "\n".join(_section("Study Groups", "Interventions"))
    match = re.search(
        r"receive Sacituzumab Govitecan-hziy (\d+) mg/kg on Days (\d) and (\d) of a (\d+)-day cycle", groups
    )
    assert match
    reg = ever.regimen("sg")
    assert (reg.dose.amount, reg.dose.unit) == (float(match.group(1)), "mg/kg")
    assert list(reg.dosing_days) == [int(match.group(2)), int(match.group(3))]
    assert reg.cycle_length_days == int(match.group(4))
    assert [reg.level_amount(lv) for lv in (0, -1, -2)] == [10, 7.5, 5]  # Trodelvy US PI Table 1


def test_references(ever: Protocol) -> None:
    lines = _section("References", "Related Links")[1:]
    assert [r.citation for r in ever.references] == lines
    for ref in ever.references:
        doi = re.search(r"doi: (\S+?)\. ", ref.citation)
        assert doi and ref.doi == doi.group(1)


def test_related_trials(ever: Protocol) -> None:
    lines = _section("Related Clinical Trials", "Detailed Description")[1:]
    pairs = [(lines[i + 1], lines[i]) for i in range(0, len(lines), 2)]
    assert [(t.nct_id, t.title) for t in ever.related_trials] == pairs
    assert len(pairs) == 5


def test_related_link(ever: Protocol) -> None:
    lines = _section("Related Links", "Other Identifiers")
    assert [link.label for link in ever.links] == lines[1:]


def test_detailed_description(ever: Protocol) -> None:
    lines = _section("Detailed Description", "Conditions")[1:]
    assert ever.description.detailed_description == "\n".join(lines)


def test_assumptions_carry_reasons(ever: Protocol) -> None:
    """Issue 2: where the record is silent the default is marked assumption: true with its reason."""
    assumed = dict(ever.assumptions())
    for where in ("randomization", "tumour assessment", "response rules", "criterion I7"):
        assert assumed.get(where), f"{where} should be a documented assumption"
