"""Controlled vocabularies for units.

A protocol file may only use the units listed here; anything else is a validation error naming the field.
Dose units follow the registry's spelling ("mg/m^2" is written ``mg/m2``).
"""

from __future__ import annotations

from enum import StrEnum


class DoseUnit(StrEnum):
    """Units of a dose amount: per body weight, per body-surface area, or flat."""

    MG_PER_KG = "mg/kg"
    MG_PER_M2 = "mg/m2"
    MG = "mg"

    @property
    def basis(self) -> str:
        """What the amount is multiplied by: ``weight`` (kg), ``bsa`` (m²) or ``flat``."""
        return {"mg/kg": "weight", "mg/m2": "bsa", "mg": "flat"}[self.value]


class FactUnit(StrEnum):
    """Units of patient facts (eligibility, stratification, dosing inputs)."""

    YEARS = "years"
    MONTHS = "months"
    WEEKS = "weeks"
    DAYS = "days"
    KG = "kg"
    CM = "cm"
    M2 = "m2"
    PER_UL = "/uL"
    E9_PER_L = "10^9/L"
    G_PER_DL = "g/dL"
    G_PER_L = "g/L"
    MG_PER_DL = "mg/dL"
    UMOL_PER_L = "umol/L"
    U_PER_L = "U/L"
    X_ULN = "xULN"
    ML_PER_MIN = "mL/min"
    PERCENT = "%"
    COUNT = "count"
    MM = "mm"
    DEG_C = "degC"
    PER_DAY = "/day"
