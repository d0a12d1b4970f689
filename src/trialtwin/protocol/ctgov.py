"""ClinicalTrials.gov API v2 study JSON ⇄ protocol.

Export writes the registry's own shape (``protocolSection`` with identificationModule, statusModule,
sponsorCollaboratorsModule, descriptionModule, conditionsModule, designModule, armsInterventionsModule,
outcomesModule, eligibilityModule with the usual "Inclusion Criteria:/Exclusion Criteria:" text block,
contactsLocationsModule, referencesModule). What the registry cannot hold — regimens as numbers, rules over facts,
strata, randomization, the assessment calendar, site ids, published results — travels in a ``trialtwin``
extension block beside ``protocolSection``, so export → import gives an equal protocol.

Import also reads plain registry JSON (no extension): criteria then stay as text and are reported as
"not computable", and so is everything else that needs numbers the registry does not have.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from trialtwin.protocol.errors import ProtocolError
from trialtwin.protocol.io import protocol_from_data, protocol_to_data
from trialtwin.protocol.model import Protocol

EXTENSION_KEY = "trialtwin"

_INCLUSION = re.compile(r"^\s*inclusion criteria\s*:?\s*$", re.IGNORECASE)
_EXCLUSION = re.compile(r"^\s*exclusion criteria\s*:?\s*$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[*\-•]|\d+[.)])\s+(.*\S)\s*$")
_AGE = re.compile(r"^\s*(\d+)\s+(year|month|week|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import could not make computable (criteria kept as text, missing regimens, …)."""

    not_computable: tuple[str, ...]


# ---- export ------------------------------------------------------------------------------------------------------


def to_ctgov(protocol: Protocol) -> dict[str, Any]:
    """The protocol as a ClinicalTrials.gov API v2 study document (plus the ``trialtwin`` extension)."""
    p = protocol
    ident = p.identification
    identification: dict[str, Any] = {
        "nctId": ident.nct_id,
        "orgStudyIdInfo": {"id": ident.org_study_id},
        "briefTitle": ident.brief_title,
    }
    if ident.secondary_ids:
        identification["secondaryIdInfos"] = [_compact(s.model_dump()) for s in ident.secondary_ids]
    if ident.official_title:
        identification["officialTitle"] = ident.official_title
    if ident.acronym:
        identification["acronym"] = ident.acronym

    status: dict[str, Any] = {
        "overallStatus": p.status.overall_status,
        "startDateStruct": _date_struct(p.status.start.date, p.status.start.type),
    }
    if p.status.primary_completion:
        pc = p.status.primary_completion
        status["primaryCompletionDateStruct"] = _date_struct(pc.date, pc.type)
    if p.status.completion:
        status["completionDateStruct"] = _date_struct(p.status.completion.date, p.status.completion.type)
    if p.status.last_update:
        status["lastUpdatePostDateStruct"] = _date_struct(p.status.last_update, "ACTUAL")

    sponsor: dict[str, Any] = {"leadSponsor": _org(p.sponsor.lead_sponsor.name, p.sponsor.lead_sponsor.class_)}
    if p.sponsor.responsible_party:
        sponsor["responsibleParty"] = {"type": p.sponsor.responsible_party}
    if p.sponsor.collaborators:
        sponsor["collaborators"] = [_org(c.name, c.class_) for c in p.sponsor.collaborators]

    arms = [
        _compact(
            {
                "label": a.label,
                "type": a.type.value,
                "description": a.description,
                "interventionNames": [
                    f"{_intervention_type(p, n).replace('_', ' ').title()}: {n}" for n in a.intervention_names
                ],
            }
        )
        for a in p.arms
    ]
    interventions = [
        _compact(
            {
                "type": i.type,
                "name": i.name,
                "description": i.description,
                "armGroupLabels": list(i.arm_labels),
                "otherNames": list(i.other_names) or None,
            }
        )
        for i in p.interventions
    ]
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for e in p.endpoints:
        key = {"primary": "primaryOutcomes", "secondary": "secondaryOutcomes"}.get(e.kind, "otherOutcomes")
        outcomes.setdefault(key, []).append(
            _compact({"measure": e.title, "description": e.description, "timeFrame": e.time_frame})
        )

    elig = p.eligibility
    eligibility: dict[str, Any] = {
        "eligibilityCriteria": criteria_text(p),
        "healthyVolunteers": elig.healthy_volunteers,
        "sex": elig.sex,
    }
    if elig.minimum_age:
        eligibility["minimumAge"] = elig.minimum_age.text()
    if elig.maximum_age:
        eligibility["maximumAge"] = elig.maximum_age.text()

    contacts: dict[str, Any] = {}
    if p.sponsor.officials:
        contacts["overallOfficials"] = [_compact(o.model_dump()) for o in p.sponsor.officials]
    if p.sites:
        contacts["locations"] = [
            _compact({"facility": s.facility, "city": s.city, "state": s.state, "zip": s.zip, "country": s.country})
            for s in p.sites
        ]
    references: dict[str, Any] = {}
    if p.references:
        references["references"] = [
            _compact({"pmid": r.pmid, "type": r.type, "citation": r.citation}) for r in p.references
        ]
    if p.links:
        references["seeAlsoLinks"] = [link.model_dump() for link in p.links]

    section: dict[str, Any] = {
        "identificationModule": identification,
        "statusModule": status,
        "sponsorCollaboratorsModule": sponsor,
        "descriptionModule": _compact(
            {
                "briefSummary": p.description.brief_summary,
                "detailedDescription": p.description.detailed_description,
            }
        ),
        "conditionsModule": _compact({"conditions": list(p.conditions), "keywords": list(p.keywords) or None}),
        "designModule": {
            "studyType": p.status.study_type,
            "phases": list(p.status.phases),
            "designInfo": {
                "allocation": p.design.allocation,
                "interventionModel": p.design.intervention_model,
                "primaryPurpose": p.design.primary_purpose,
                "maskingInfo": {"masking": p.design.masking},
            },
            "enrollmentInfo": {"count": p.enrollment.count, "type": p.enrollment.type.value},
        },
        "armsInterventionsModule": {"armGroups": arms, "interventions": interventions},
        "outcomesModule": outcomes,
        "eligibilityModule": eligibility,
        "contactsLocationsModule": contacts,
        "referencesModule": references,
    }
    return {"protocolSection": {k: v for k, v in section.items() if v}, EXTENSION_KEY: _extension(p)}


def criteria_text(protocol: Protocol) -> str:
    """The registry's eligibility text block: "Inclusion Criteria:" and "Exclusion Criteria:" bullet lists."""
    parts = []
    for header, kind in (("Inclusion Criteria:", "inclusion"), ("Exclusion Criteria:", "exclusion")):
        texts = [c.text for c in protocol.eligibility.criteria if c.kind == kind]
        if texts:
            parts.append(header + "\n\n" + "\n".join(f"* {t}" for t in texts))
    return "\n\n".join(parts)


def _extension(p: Protocol) -> dict[str, Any]:
    data = protocol_to_data(p)
    elig = data.get("eligibility", {})
    return _compact(
        {
            "schema_version": p.schema_version,
            "id": p.id,
            "arms": [
                _compact(
                    {
                        "label": a.label,
                        "id": a.id,
                        "regimens": list(a.regimens) or None,
                        "regimen_choice": a.regimen_choice if a.regimen_choice != "all" else None,
                    }
                )
                for a in p.arms
            ],
            "regimens": data.get("regimens"),
            "facts": elig.get("facts"),
            "criteria": [_compact({k: v for k, v in c.items() if k != "text"}) for c in elig.get("criteria", [])],
            "stratification": data.get("stratification"),
            "randomization": data.get("randomization"),
            "endpoints": data.get("endpoints"),
            "status": {"assumption": True, "reason": p.status.reason} if p.status.assumption else None,
            "response_rules": data.get("response_rules"),
            "tumour_assessment": data.get("tumour_assessment"),
            "countries": data.get("countries"),
            "site_ids": [s.id for s in p.sites] or None,
            "reference_dois": [r.doi for r in p.references] if any(r.doi for r in p.references) else None,
            "related_trials": data.get("related_trials"),
            "published_results": data.get("published_results"),
        }
    )


# ---- import ------------------------------------------------------------------------------------------------------


def from_ctgov(document: Any, source: str = "<ctgov>") -> tuple[Protocol, ImportReport]:
    """A protocol from a ClinicalTrials.gov API v2 study document; report of what stayed non-computable."""
    if not isinstance(document, dict) or not isinstance(document.get("protocolSection"), dict):
        raise ProtocolError(source, [("protocolSection", "missing: not a ClinicalTrials.gov API v2 study document")])
    section: dict[str, Any] = document["protocolSection"]
    ext: dict[str, Any] = document.get(EXTENSION_KEY) or {}
    if not isinstance(ext, dict):
        raise ProtocolError(source, [(EXTENSION_KEY, "the extension block must be a mapping")])
    notes: list[str] = []
    try:
        data = _protocol_data(section, ext, notes)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolError(source, [("protocolSection", f"cannot be read: {exc!r}")]) from None
    protocol = protocol_from_data(data, source)
    return protocol, ImportReport(not_computable=tuple(notes))


def _protocol_data(section: dict[str, Any], ext: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    ident = section.get("identificationModule", {})
    status = section.get("statusModule", {})
    sponsor = section.get("sponsorCollaboratorsModule", {})
    design = section.get("designModule", {})
    arms_mod = section.get("armsInterventionsModule", {})
    elig = section.get("eligibilityModule", {})
    contacts = section.get("contactsLocationsModule", {})
    refs = section.get("referencesModule", {})

    nct = ident.get("nctId")
    study_id = ext.get("id") or _slug(ident.get("orgStudyIdInfo", {}).get("id") or nct or "study")
    design_info = design.get("designInfo", {})

    ext_arms = {a["label"]: a for a in ext.get("arms", [])}
    arms = []
    for a in arms_mod.get("armGroups", []):
        extra = ext_arms.get(a["label"], {})
        arms.append(
            _compact(
                {
                    "id": extra.get("id") or _slug(a["label"]),
                    "label": a["label"],
                    "type": a.get("type", "OTHER"),
                    "description": a.get("description"),
                    "intervention_names": [_strip_type(n) for n in a.get("interventionNames", [])],
                    "regimens": extra.get("regimens"),
                    "regimen_choice": extra.get("regimen_choice"),
                }
            )
        )
    interventions = [
        _compact(
            {
                "type": i.get("type", "OTHER"),
                "name": i["name"],
                "other_names": i.get("otherNames"),
                "description": i.get("description"),
                "arm_labels": i.get("armGroupLabels", []),
            }
        )
        for i in arms_mod.get("interventions", [])
    ]
    if not ext.get("regimens"):
        notes.append("regimens: doses and schedules stay as arm/intervention text (no computable regimen)")

    criteria = _criteria(elig.get("eligibilityCriteria") or "", ext.get("criteria"), notes)
    facts = ext.get("facts")
    if facts is None:
        facts = _standard_facts(elig)

    sites = []
    site_ids = ext.get("site_ids") or []
    country_seq: dict[str, int] = {}
    for n, loc in enumerate(contacts.get("locations", [])):
        country = loc.get("country") or "Unknown"
        country_seq[country] = country_seq.get(country, 0) + 1
        sid = site_ids[n] if n < len(site_ids) else f"{_slug(country)[:12]}-{country_seq[country]:03d}"
        sites.append(
            _compact(
                {
                    "id": sid,
                    "facility": loc.get("facility") or "(unnamed)",
                    "city": loc.get("city") or "(unknown)",
                    "state": loc.get("state"),
                    "zip": loc.get("zip"),
                    "country": country,
                }
            )
        )
    dois = ext.get("reference_dois") or []
    references = [
        _compact(
            {
                "citation": r["citation"],
                "pmid": r.get("pmid"),
                "type": r.get("type"),
                "doi": dois[n] if n < len(dois) else _doi_from(r["citation"]),
            }
        )
        for n, r in enumerate(refs.get("references", []))
    ]

    endpoints = ext.get("endpoints")
    if endpoints is None:
        endpoints = _endpoints_from_outcomes(section.get("outcomesModule", {}), notes)
    for key, what in (
        ("stratification", "stratification factors"),
        ("randomization", "randomization method"),
        ("tumour_assessment", "tumour-assessment calendar"),
    ):
        if ext.get(key) is None:
            notes.append(f"{key}: the registry does not give the {what}; none imported")

    officials = contacts.get("overallOfficials", [])
    data: dict[str, Any] = {
        "schema_version": ext.get("schema_version", "1"),
        "id": study_id,
        "identification": _compact(
            {
                "nct_id": nct,
                "org_study_id": ident.get("orgStudyIdInfo", {}).get("id"),
                "secondary_ids": ident.get("secondaryIdInfos"),
                "acronym": ident.get("acronym"),
                "brief_title": ident.get("briefTitle"),
                "official_title": ident.get("officialTitle"),
            }
        ),
        "status": _compact(
            {
                "overall_status": status.get("overallStatus"),
                "study_type": design.get("studyType"),
                "phases": design.get("phases", []),
                "start": _date_from(status.get("startDateStruct")),
                "primary_completion": _date_from(status.get("primaryCompletionDateStruct")),
                "completion": _date_from(status.get("completionDateStruct")),
                "last_update": (status.get("lastUpdatePostDateStruct") or {}).get("date"),
                **(ext.get("status") or {}),
            }
        ),
        "sponsor": _compact(
            {
                "lead_sponsor": sponsor.get("leadSponsor"),
                "collaborators": sponsor.get("collaborators"),
                "responsible_party": (sponsor.get("responsibleParty") or {}).get("type"),
                "officials": officials or None,
            }
        ),
        "conditions": section.get("conditionsModule", {}).get("conditions", []),
        "keywords": section.get("conditionsModule", {}).get("keywords", []),
        "description": _compact(
            {
                "brief_summary": section.get("descriptionModule", {}).get("briefSummary"),
                "detailed_description": section.get("descriptionModule", {}).get("detailedDescription"),
            }
        ),
        "design": {
            "allocation": design_info.get("allocation", "NA"),
            "intervention_model": design_info.get("interventionModel", "PARALLEL"),
            "primary_purpose": design_info.get("primaryPurpose", "TREATMENT"),
            "masking": (design_info.get("maskingInfo") or {}).get("masking", "NONE"),
        },
        "enrollment": design.get("enrollmentInfo"),
        "arms": arms,
        "interventions": interventions,
        "regimens": ext.get("regimens", []),
        "eligibility": _compact(
            {
                "minimum_age": _age(elig.get("minimumAge")),
                "maximum_age": _age(elig.get("maximumAge")),
                "sex": elig.get("sex", "ALL"),
                "healthy_volunteers": elig.get("healthyVolunteers", False),
                "facts": facts,
                "criteria": criteria,
            }
        ),
        "stratification": ext.get("stratification", []),
        "randomization": ext.get("randomization"),
        "endpoints": endpoints,
        "response_rules": ext.get("response_rules"),
        "tumour_assessment": ext.get("tumour_assessment"),
        "countries": ext.get("countries", []),
        "sites": sites,
        "references": references,
        "links": refs.get("seeAlsoLinks", []),
        "related_trials": ext.get("related_trials", []),
        "published_results": ext.get("published_results", []),
    }
    return _compact(data)


def parse_criteria_text(text: str) -> list[tuple[str, str]]:
    """``(kind, text)`` for each bullet of a registry eligibility block, in order."""
    kind: str | None = None
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if _INCLUSION.match(line):
            kind = "inclusion"
            continue
        if _EXCLUSION.match(line):
            kind = "exclusion"
            continue
        bullet = _BULLET.match(line)
        if bullet and kind is not None:
            out.append((kind, bullet.group(1)))
        elif line.strip() and out and kind is not None:
            prev_kind, prev_text = out[-1]
            out[-1] = (prev_kind, f"{prev_text} {line.strip()}")
    return out


def _criteria(text: str, ext_criteria: Any, notes: list[str]) -> list[dict[str, Any]]:
    parsed = parse_criteria_text(text)
    if ext_criteria is not None and len(ext_criteria) != len(parsed):
        raise ValueError(
            f"the eligibility text has {len(parsed)} criteria but the trialtwin extension has {len(ext_criteria)}"
        )
    counters = {"inclusion": 0, "exclusion": 0}
    out = []
    for n, (kind, crit_text) in enumerate(parsed):
        counters[kind] += 1
        if ext_criteria is not None:
            out.append({**ext_criteria[n], "text": crit_text})
            if ext_criteria[n].get("rule") is None:
                notes.append(f"criterion {ext_criteria[n].get('id')}: not computable, kept as text")
        else:
            cid = f"{kind[0].upper()}{counters[kind]}"
            out.append({"id": cid, "kind": kind, "text": crit_text})
            notes.append(f"criterion {cid}: not computable, kept as text: {crit_text[:70]}")
    if text.strip() and not parsed:
        notes.append("eligibility text has no 'Inclusion Criteria:'/'Exclusion Criteria:' bullets; not imported")
    return out


def _standard_facts(elig: dict[str, Any]) -> list[dict[str, Any]]:
    """Facts the registry's structured fields need (age, sex, healthy volunteer)."""
    return [
        {"name": "age", "type": "number", "unit": "years", "label": "Age", "minimum": 0},
        {"name": "sex", "type": "enum", "levels": ["female", "male"], "label": "Sex"},
        {"name": "healthy_volunteer", "type": "boolean", "label": "Healthy volunteer"},
    ]


def _endpoints_from_outcomes(outcomes: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    out = []
    for key, kind in (
        ("primaryOutcomes", "primary"),
        ("secondaryOutcomes", "secondary"),
        ("otherOutcomes", "exploratory"),
    ):
        for n, o in enumerate(outcomes.get(key, []), start=1):
            measure = o.get("measure", "")
            low = measure.lower()
            if "surviv" in low or "time to" in low:
                etype = "time_to_event"
            elif "rate" in low or "response" in low or "proportion" in low:
                etype = "proportion"
            else:
                etype = "safety"
            out.append(
                _compact(
                    {
                        "id": f"{kind[0].upper()}{n}",
                        "kind": kind,
                        "type": etype,
                        "title": measure,
                        "description": o.get("description"),
                        "time_frame": o.get("timeFrame"),
                        "assumption": True,
                        "reason": "imported from registry outcome text; endpoint type inferred from its wording",
                    }
                )
            )
            notes.append(f"endpoint {kind[0].upper()}{n}: type inferred from wording ({etype})")
    return out


# ---- small helpers -----------------------------------------------------------------------------------------------


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    """Drop None values (the registry omits absent fields)."""
    return {k: v for k, v in d.items() if v is not None}


def _org(name: str, class_: str | None) -> dict[str, Any]:
    return _compact({"name": name, "class": class_})


def _date_struct(date: dt.date, type_: str) -> dict[str, str]:
    return {"date": date.isoformat(), "type": str(type_)}


def _date_from(struct: dict[str, Any] | None) -> dict[str, Any] | None:
    if not struct:
        return None
    date = str(struct["date"])
    if re.fullmatch(r"\d{4}-\d{2}", date):  # the registry gives some dates as year-month
        date += "-01"
    return {"date": date, "type": struct.get("type", "ACTUAL")}


def _age(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"age {text!r} is not like '18 Years'")
    return {"value": int(match.group(1)), "unit": match.group(2).lower() + "s"}


def _intervention_type(p: Protocol, name: str) -> str:
    for i in p.interventions:
        if i.name == name:
            return i.type
    return "OTHER"


def _strip_type(name: str) -> str:
    """``"Drug: Eribulin"`` → ``"Eribulin"`` (registry intervention names carry their type)."""
    head, sep, tail = name.partition(": ")
    return tail if sep and head.replace(" ", "").isalpha() and head == head.title() else name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


def _doi_from(citation: str) -> str | None:
    match = re.search(r"doi:\s*(10\.\S+?)\.?(?:\s|$)", citation)
    return match.group(1) if match else None
