"""Read-only views for the web service: studies, sites, subjects by site, eligibility preview, audit trail.

Nothing here writes. The audit view conceals what no user of the service may see (ICH E9 §2.3 allocation
concealment; trial-system-requirements E2, G5): the randomization state (seed, remaining blocks) and the block
details of allocations; and secrets (password hashes, session and token digests).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from trialtwin.engine.eligibility import CriterionOutcome, evaluate_eligibility
from trialtwin.engine.facts import validate_facts
from trialtwin.engine.strata import evaluate_strata
from trialtwin.services.studies import study_protocol
from trialtwin.services.subjects import ScreeningRecord
from trialtwin.store.audit import REDACTED, REDACTION_PREFIX
from trialtwin.store.db import Database
from trialtwin.store.repositories import get_study, get_subject
from trialtwin.store.tables import AuditLog, Base, Site, Study, Subject, SubjectStatus, User

CONCEALED = "[concealed]"
#: Per table, the audited fields nobody sees through the service (allocation concealment and secrets).
HIDDEN_FIELDS: dict[str, frozenset[str]] = {
    "randomization_ledger": frozenset({"state_after", "block", "block_size", "block_position", "state_version"}),
    "users": frozenset({"password_hash"}),
}
#: Tables whose audited values are concealed entirely (the randomization state holds the seed and the list).
HIDDEN_TABLES = frozenset({"randomization_state"})


@dataclass(frozen=True, slots=True)
class StudySummary:
    id: str
    nct_id: str
    title: str
    protocol_sha256: str
    loaded_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SiteInfo:
    code: str
    facility: str
    city: str
    country: str
    active: bool


@dataclass(frozen=True, slots=True)
class EligibilityPreview:
    study_id: str
    status: str
    criteria: tuple[dict[str, Any], ...]
    strata: dict[str, str | None]
    missing_facts: tuple[str, ...]


def _summary(study: Study) -> StudySummary:
    return StudySummary(study.id, study.nct_id, study.title, study.protocol_sha256, study.loaded_at)


def list_studies(db: Database) -> list[StudySummary]:
    with db.read_session() as session:
        return [_summary(s) for s in session.execute(select(Study).order_by(Study.id)).scalars()]


def get_study_summary(db: Database, study_id: str) -> StudySummary:
    with db.read_session() as session:
        return _summary(get_study(session, study_id))


def list_sites(db: Database, study_id: str) -> list[SiteInfo]:
    with db.read_session() as session:
        get_study(session, study_id)
        rows = session.execute(select(Site).where(Site.study_id == study_id).order_by(Site.code)).scalars()
        return [SiteInfo(s.code, s.facility, s.city, s.country, s.active) for s in rows]


def list_subjects(db: Database, study_id: str, sites: Iterable[str] | None = None) -> list[ScreeningRecord]:
    """The study's screened subjects, at ``sites`` only when given (site isolation, B3), by screening id."""
    with db.read_session() as session:
        get_study(session, study_id)
        query = (
            select(Subject, Site.code)
            .join(Site, Site.id == Subject.site_id)
            .where(Subject.study_id == study_id)
            .order_by(Subject.screening_id)
        )
        if sites is not None:
            query = query.where(Site.code.in_(sorted(sites)))
        return [
            ScreeningRecord(
                s.study_id, s.screening_id, code, SubjectStatus(s.status), s.subject_number, s.registered_at
            )
            for s, code in session.execute(query)
        ]


def preview_eligibility(db: Database, study_id: str, facts: Mapping[str, Any]) -> EligibilityPreview:
    """The engine's verdict on ``facts`` without saving anything (the screening form's live reasons).
    Facts that do not fit the protocol raise ``FactsError`` naming each field."""
    with db.read_session() as session:
        protocol = study_protocol(session, study_id)
    checked = validate_facts(protocol, facts, source="eligibility facts")
    result = evaluate_eligibility(protocol, checked, validate=False)
    strata = evaluate_strata(protocol, checked, validate=False)
    criteria = tuple(
        {**c.to_dict(), "missing_facts": list(c.missing_facts) if c.result is CriterionOutcome.UNKNOWN else []}
        for c in result.criteria
    )
    return EligibilityPreview(study_id, result.status.value, criteria, strata.to_dict(), result.missing_facts())


def _conceal(table: str, text: str | None) -> Any:
    if text is None:
        return None
    if table in HIDDEN_TABLES:
        return CONCEALED
    values = json.loads(text)
    hidden = HIDDEN_FIELDS.get(table)
    if hidden and isinstance(values, dict):
        values = {k: (CONCEALED if k in hidden else v) for k, v in values.items()}
    return values


def _subject_records(session: Any, subject: Subject) -> list[tuple[str, str]]:
    keys = [("subjects", str(subject.id))]
    for table in Base.metadata.sorted_tables:
        if "subject_id" in table.c and table.name != "subjects":
            ids = session.execute(select(table.c.id).where(table.c.subject_id == subject.id)).scalars()
            keys.extend((table.name, str(i)) for i in ids)
    return keys


def _redactions(session: Any) -> dict[tuple[str, str], list[tuple[int, frozenset[str]]]]:
    """``(table, record id) → [(seq, fields)]`` of the redaction entries (``AuditRecorder.redact``: the reason
    starts with ``REDACTION_PREFIX`` and the old value of every field reads ``[redacted]``)."""
    out: dict[tuple[str, str], list[tuple[int, frozenset[str]]]] = {}
    query = select(AuditLog.seq, AuditLog.table_name, AuditLog.record_id, AuditLog.old_value).where(
        AuditLog.reason.startswith(REDACTION_PREFIX, autoescape=True)
    )
    for seq, table, rid, old in session.execute(query):
        values = json.loads(old) if old else None
        if isinstance(values, dict) and values and all(v == REDACTED for v in values.values()):
            out.setdefault((table, rid), []).append((seq, frozenset(values)))
    return out


def _masked(
    redactions: Mapping[tuple[str, str], list[tuple[int, frozenset[str]]]], table: str, rid: str, seq: int
) -> frozenset[str]:
    """The fields of entry ``seq`` of ``(table, rid)`` that a later redaction masks."""
    fields: frozenset[str] = frozenset()
    for at, names in redactions.get((table, rid), ()):
        if at > seq:
            fields |= names
    return fields


def _redact(values: Any, fields: frozenset[str]) -> Any:
    if not fields or not isinstance(values, dict):
        return values
    return {k: (REDACTED if k in fields else v) for k, v in values.items()}


def audit_entries(
    db: Database,
    study_id: str,
    *,
    screening_id: str | None = None,
    after: int = 0,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Audit entries in chain order after sequence ``after`` (at most ``limit``): all of them, or those of
    one subject's records; concealed fields replaced by ``"[concealed]"``. ``user_name`` is the display name
    of ``user_id`` (who made the change, 21 CFR 11.10(e); the printed name, as in 11.50(a)(1)). A field that a
    later redaction entry masks (``AuditRecorder.redact``: PII entered by mistake) reads ``"[redacted]"`` and
    the entry has ``redacted: true``; the stored entry is unchanged."""
    with db.read_session() as session:
        get_study(session, study_id)
        query = (
            select(AuditLog, User.display_name)
            .outerjoin(User, User.id == AuditLog.user_id)
            .where(AuditLog.seq > after)
            .order_by(AuditLog.seq)
            .limit(limit)
        )
        if screening_id is not None:
            subject = get_subject(session, study_id, screening_id)
            keys = _subject_records(session, subject)
            by_table: dict[str, list[str]] = {}
            for table, rid in keys:
                by_table.setdefault(table, []).append(rid)
            from sqlalchemy import and_, or_

            query = query.where(
                or_(*(and_(AuditLog.table_name == t, AuditLog.record_id.in_(ids)) for t, ids in by_table.items()))
            )
        redactions = _redactions(session)
        return [
            {
                "redacted": bool(_masked(redactions, e.table_name, e.record_id, e.seq)),
                "seq": e.seq,
                "at": e.at,
                "user_id": e.user_id,
                "user_name": name,
                "action": e.action,
                "table": e.table_name,
                "record_id": e.record_id,
                "fields": e.fields.split(",") if e.fields else [],
                "old": _redact(
                    _conceal(e.table_name, e.old_value), _masked(redactions, e.table_name, e.record_id, e.seq)
                ),
                "new": _redact(
                    _conceal(e.table_name, e.new_value), _masked(redactions, e.table_name, e.record_id, e.seq)
                ),
                "reason": e.reason,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e, name in session.execute(query)
        ]
