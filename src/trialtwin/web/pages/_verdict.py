"""An eligibility verdict arranged for reading: the criteria that exclude the person first, then the unknown
ones (with the facts they need), then those satisfied (trialtwin.engine.eligibility: an inclusion criterion
excludes when not met, an exclusion criterion when met)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

STATUS_TEXT = {
    "eligible": "Eligible",
    "not_eligible": "Not eligible",
    "incomplete": "Incomplete: facts missing",
}


@dataclass(frozen=True, slots=True)
class VerdictView:
    status: str
    status_text: str
    failed: tuple[Mapping[str, Any], ...]
    unknown: tuple[Mapping[str, Any], ...]
    satisfied: tuple[Mapping[str, Any], ...]
    strata: Mapping[str, str | None]
    missing_facts: tuple[str, ...]
    facts_version: int | None = None


def _excludes(c: Mapping[str, Any]) -> bool:
    return (c.get("kind") == "inclusion" and c.get("result") == "not_met") or (
        c.get("kind") == "exclusion" and c.get("result") == "met"
    )


def verdict_view(record: Any) -> VerdictView:
    """From an ``EligibilityRecord`` (stored) or an ``EligibilityPreview`` (not saved)."""
    criteria: Iterable[Mapping[str, Any]] = record.criteria
    items = tuple(criteria)
    status = str(getattr(record.status, "value", record.status))
    return VerdictView(
        status,
        STATUS_TEXT.get(status, status),
        tuple(c for c in items if _excludes(c)),
        tuple(c for c in items if c.get("result") == "unknown"),
        tuple(c for c in items if not _excludes(c) and c.get("result") != "unknown"),
        dict(record.strata),
        tuple(record.missing_facts),
        getattr(record, "facts_version", None),
    )
