"""Redaction of a value entered by mistake that must not be shown (e.g. personal data of a relative typed into a
free-text field): trial-system-requirements A5, "rare redactions are themselves logged with a justification";
EMA/INS/GCP/112288/2023 §6; ICH E6(R3) 4.2.2.

:func:`redact_value` replaces the current value (by ``[redacted]`` or a clean text the user gives) and writes
**one new audit entry**: an update whose old value reads ``[redacted]`` (the mistaken value is not copied into
the trail again) and whose reason is ``"redaction: "`` + the justification, with who and when like any entry.
No earlier entry is altered, so the hash chain still verifies; the read services mask the field in the
record's earlier entries (``trialtwin.services.browse.audit_entries``), so the screens, the API and the
casebook export no longer show the value, while the stored bytes stay as they were (a database-level purge,
if a regulator requires one, is outside the service).

Only the free-text fields of the correctable records can be redacted (:data:`REDACTABLE`); who may redact is
who may correct: site staff at the subject's site (``record.correct``). Over HTTP: ``POST
/api/v1/studies/{study_id}/subjects/{screening_id}/redactions`` and the subject's redaction page
(``trialtwin.web.api.redactions``, ``trialtwin.web.pages.redactions``).
"""

from __future__ import annotations

from dataclasses import dataclass

from trialtwin.services.clinical_common import FieldError, check_text, staff_context
from trialtwin.services.corrections import CORRECTABLE
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.audit import REDACTED
from trialtwin.store.audit import REDACTION_PREFIX as REDACTION_PREFIX  # a redaction entry's reason starts so
from trialtwin.store.db import Database
from trialtwin.store.errors import RecordNotFound

#: table → the free-text fields that may be redacted.
REDACTABLE: dict[str, frozenset[str]] = {
    "adverse_events": frozenset({"term"}),
    "disposition": frozenset({"detail"}),
}


@dataclass(frozen=True, slots=True)
class RedactionResult:
    table: str
    record_id: int
    field: str
    replacement: str
    justification: str


def redact_value(
    db: Database,
    study_id: str,
    screening_id: str,
    table: str,
    record_id: int,
    field: str,
    *,
    justification: str,
    replacement: str = REDACTED,
    actor: int,
    clock: Clock,
) -> RedactionResult:
    """Redact ``field`` of the subject's record ``table``/``record_id`` (see the module docstring).
    ``FieldError`` names the bad argument (``justification``, ``table``, ``field``, ``replacement``);
    ``RecordNotFound`` (404 over HTTP) when the subject has no such record; ``PermissionDenied`` unless the
    actor is site staff at the subject's site."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        ctx = staff_context(uow, study_id, screening_id)
        why = check_text(justification, "justification", max_len=2000)
        if table not in REDACTABLE:
            raise FieldError("table", f"{table!r} has no redactable field (redactable: {', '.join(REDACTABLE)})")
        if field not in REDACTABLE[table]:
            raise FieldError(
                "field", f"{table}.{field} cannot be redacted (fields: {', '.join(sorted(REDACTABLE[table]))})"
            )
        model, checks = CORRECTABLE[table]
        row = (
            uow.session.get(model, record_id)
            if isinstance(record_id, int) and not isinstance(record_id, bool)
            else None
        )
        if row is None or getattr(row, "subject_id", None) != ctx.subject.id:
            raise RecordNotFound(f"subject {screening_id} has no {table} record {record_id!r}")
        clean = checks[field](replacement, "replacement", ctx, uow.now.date())
        uow.audit.redact(row, field, clean, justification=why)
        return RedactionResult(table, record_id, field, clean, why)
