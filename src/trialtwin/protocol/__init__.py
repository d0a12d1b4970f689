"""What the trial is: validated, immutable protocol data (pydantic v2), study files, ClinicalTrials.gov I/O.

Imports nothing else from trialtwin (see docs/architecture.md).
"""

from trialtwin.protocol.errors import ProtocolError, TrialtwinError
from trialtwin.protocol.io import (
    dump_protocol,
    list_studies,
    load_protocol,
    protocol_from_data,
    protocol_json_schema,
    protocol_to_data,
)
from trialtwin.protocol.model import (
    Arm,
    Criterion,
    CriterionKind,
    Dose,
    DoseLevel,
    Endpoint,
    Protocol,
    RandomizationSpec,
    Regimen,
    ResponseRules,
    Site,
    StratificationFactor,
    TumourAssessmentSchedule,
)
from trialtwin.protocol.rules import AllOf, AnyOf, Comparison, FactDefinition, FactType, Not, Rule
from trialtwin.protocol.units import DoseUnit, FactUnit

__all__ = [
    "AllOf",
    "AnyOf",
    "Arm",
    "Comparison",
    "Criterion",
    "CriterionKind",
    "Dose",
    "DoseLevel",
    "DoseUnit",
    "Endpoint",
    "FactDefinition",
    "FactType",
    "FactUnit",
    "Not",
    "Protocol",
    "ProtocolError",
    "RandomizationSpec",
    "Regimen",
    "ResponseRules",
    "Rule",
    "Site",
    "StratificationFactor",
    "TrialtwinError",
    "TumourAssessmentSchedule",
    "dump_protocol",
    "list_studies",
    "load_protocol",
    "protocol_from_data",
    "protocol_json_schema",
    "protocol_to_data",
]
