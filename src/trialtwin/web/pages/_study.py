"""What the forms need from a study's protocol: the declared eligibility facts (the screening CRF), the
criteria without a computable rule (investigator judgement), the arms' regimens, the lab tests of a dosing
visit. Read through the services (``study_protocol``), presentation only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialtwin.protocol.model import Protocol
from trialtwin.protocol.rules import FactDefinition, FactType
from trialtwin.services import Database, get_facts, study_protocol


def protocol_of(db: Database, study_id: str) -> Protocol:
    """The study's protocol (parsed once per process by ``study_protocol``; RecordNotFound → 404)."""
    with db.read_session() as session:
        return study_protocol(session, study_id)


@dataclass(frozen=True, slots=True)
class FactField:
    """One screening CRF field: the fact's name (the form field), label, HTML input kind and options."""

    name: str
    label: str
    kind: str  # "number", "integer", "boolean", "enum", "date"
    unit: str | None
    levels: tuple[str, ...]
    minimum: float | None
    maximum: float | None

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"


def fact_fields(protocol: Protocol) -> tuple[FactField, ...]:
    """The protocol's declared facts in file order, as form fields."""
    out = []
    for f in protocol.eligibility.facts:
        out.append(_field(f))
    return tuple(out)


def _field(f: FactDefinition) -> FactField:
    unit = str(f.unit.value) if f.unit is not None else None
    return FactField(f.name, f.label, f.type.value, unit, tuple(f.levels), f.minimum, f.maximum)


def fact_kinds(protocol: Protocol) -> dict[str, FactType]:
    return {f.name: f.type for f in protocol.eligibility.facts}


def judgement_criteria(protocol: Protocol) -> tuple[tuple[str, str], ...]:
    """``(id, text)`` of the criteria kept as text only (``rule: null``): the investigator judges them."""
    return tuple((c.id, c.text) for c in protocol.eligibility.criteria if c.rule is None)


def arm_regimens(protocol: Protocol, arm_id: str) -> tuple[tuple[str, str], ...]:
    """``(regimen id, label)`` of an arm (several for a physician's-choice arm)."""
    try:
        arm = protocol.arm(arm_id)
    except KeyError:
        return ()
    return tuple((r.id, f"{r.label} ({r.drug})") for r in protocol.arm_regimens(arm))


def arm_label(protocol: Protocol, arm_id: str) -> str:
    try:
        return protocol.arm(arm_id).label
    except KeyError:
        return arm_id


def stored_facts(db: Database, study_id: str, screening_id: str) -> dict[str, Any]:
    """The subject's latest saved eligibility facts (a correction starts from them; each save is a new version,
    21 CFR 11.10(e)), ``{}`` before any (``services.get_facts``)."""
    saved = get_facts(db, study_id, screening_id)
    return dict(saved.facts) if saved is not None else {}


def facts_to_form(facts: dict[str, Any], override_prefix: str) -> dict[str, str]:
    """Facts as the form's text values (booleans as yes/no; judgements under ``<prefix><criterion id>``)."""
    values: dict[str, str] = {}
    for name, value in facts.items():
        if name == "criteria_overrides" and isinstance(value, dict):
            values.update({override_prefix + cid: "yes" if v else "no" for cid, v in value.items()})
        elif isinstance(value, bool):
            values[name] = "yes" if value else "no"
        elif value is not None:
            values[name] = str(value)
    return values
