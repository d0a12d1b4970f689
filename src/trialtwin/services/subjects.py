"""Screening use cases: register a screened person, record consent, enter eligibility facts.

Operational order (21 CFR 11.10(f); trial-system-requirements B8): registration → consent → eligibility →
randomization. A step asked out of order raises :class:`WorkflowError` before anything is written. Each use
case is one unit of work with one audit entry per record written.

:func:`register_screening`, :func:`record_consent` and :func:`enter_eligibility` hand their unit of work to the
database's group-commit writer (:func:`trialtwin.services.uow.run_grouped`): concurrent CRF saves are committed
together, each answered only after that commit, each refusal raised before it writes anything (so it leaves the
others alone). In one transaction the actor's role at a site is checked, and the protocol read, once.

Eligibility facts are stored as entered, one version per entry: a correction is a new version (with a
reason), and the earlier facts and verdicts stay on record. The verdict is the engine's
(``trialtwin.engine.eligibility.evaluate_eligibility``), stored with one result and reason per criterion and
the stratification levels the facts give (``trialtwin.engine.strata.evaluate_strata``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trialtwin.engine.eligibility import CriterionOutcome, evaluate_eligibility
from trialtwin.engine.facts import validate_facts
from trialtwin.engine.strata import evaluate_strata
from trialtwin.protocol.model import Protocol
from trialtwin.services.access import SITE_STAFF, require_role
from trialtwin.services.errors import PermissionDenied, WorkflowError
from trialtwin.services.studies import study_protocol
from trialtwin.services.uow import Clock, UnitOfWork, run_grouped
from trialtwin.store.audit import to_jsonable
from trialtwin.store.db import Database
from trialtwin.store.errors import StoreError
from trialtwin.store.repositories import (
    consent_of,
    count_subjects_at_site,
    get_site,
    get_subject,
    latest_facts,
    subject_site_code,
    verdict_for,
)
from trialtwin.store.tables import Consent, EligibilityVerdict, ScreeningFacts, Site, Subject, SubjectStatus

MAX_FORM_VERSION = 64


@dataclass(frozen=True, slots=True)
class ScreeningRecord:
    """A screened person as the site sees them."""

    study_id: str
    screening_id: str
    site: str
    status: SubjectStatus
    subject_number: str | None
    registered_at: dt.datetime


@dataclass(frozen=True, slots=True)
class EligibilityRecord:
    """A stored verdict: facts version, status, one ``{id, kind, result, reason, missing_facts}`` per
    criterion, the stratification levels (``None`` for a factor the facts do not decide) and the facts that
    unknown criteria need."""

    study_id: str
    screening_id: str
    facts_version: int
    status: SubjectStatus
    criteria: tuple[dict[str, Any], ...]
    strata: dict[str, str | None]
    missing_facts: tuple[str, ...]


def _record(subject: Subject, site: Site) -> ScreeningRecord:
    return ScreeningRecord(
        subject.study_id,
        subject.screening_id,
        site.code,
        SubjectStatus(subject.status),
        subject.subject_number,
        subject.registered_at,
    )


def _actor(uow: UnitOfWork) -> int:
    if uow.actor is None:
        raise PermissionDenied("this use case needs an acting user")
    return uow.actor


def _site_of(uow: UnitOfWork, subject: Subject) -> Site:
    site = uow.session.get(Site, subject.site_id)
    if site is None:  # pragma: no cover - foreign key
        raise StoreError(f"subject {subject.screening_id}: site {subject.site_id} is missing")
    return site


#: ``session.info`` keys: protocols read in this transaction (shared with ``services.randomize``); (actor, site)
#: pairs checked in it.
_PROTOCOLS = "trialtwin.protocols"
_ROLE_CHECKS = "trialtwin.crf_staff_checks"


def _require_site_staff(uow: UnitOfWork, actor: int, site: Site) -> None:
    """:func:`require_role` for site staff, once per transaction and (actor, site) (a group commit is one
    transaction, as if every check ran at its start)."""
    checked: set[tuple[int, int]] = uow.session.info.setdefault(_ROLE_CHECKS, set())
    if (actor, site.id) not in checked:
        require_role(uow.session, actor, SITE_STAFF, site=site)
        checked.add((actor, site.id))


def _protocol(uow: UnitOfWork, study_id: str) -> Protocol:
    protocols: dict[str, Protocol] = uow.session.info.setdefault(_PROTOCOLS, {})
    protocol = protocols.get(study_id)
    if protocol is None:
        protocol = protocols[study_id] = study_protocol(uow.session, study_id)
    return protocol


def register_screening(db: Database, study_id: str, site: str, *, actor: int, clock: Clock) -> ScreeningRecord:
    """Register a person screened at ``site`` (site code, e.g. ``CN-001``); returns their new screening id
    ``<site>-S<nnn>`` (numbered per site in order of registration)."""
    return run_grouped(db, lambda uow: register_screening_in(uow, study_id, site), actor=actor, clock=clock)


def register_screening_in(uow: UnitOfWork, study_id: str, site: str) -> ScreeningRecord:
    """:func:`register_screening` inside a unit of work the caller commits (to compose use cases)."""
    actor = _actor(uow)
    site_row = get_site(uow.session, study_id, site, for_update=True)
    _require_site_staff(uow, actor, site_row)
    if not site_row.active:
        raise WorkflowError(f"site {site} of study {study_id!r} is not active")
    number = count_subjects_at_site(uow.session, site_row.id) + 1
    subject = Subject(
        study_id=study_id,
        site_id=site_row.id,
        screening_id=f"{site_row.code}-S{number:03d}",
        subject_number=None,
        status=SubjectStatus.REGISTERED.value,
        registered_at=uow.now,
        registered_by=actor,
    )
    uow.audit.create(subject)
    return _record(subject, site_row)


def record_consent(
    db: Database,
    study_id: str,
    screening_id: str,
    consent_date: dt.date,
    *,
    form_version: str,
    actor: int,
    clock: Clock,
) -> ScreeningRecord:
    """Record the subject's informed consent, signed on ``consent_date`` (not after today, server clock)
    with consent form ``form_version``. Needed before eligibility facts can be entered (ICH E6(R3) 2.8)."""
    return run_grouped(
        db,
        lambda uow: record_consent_in(uow, study_id, screening_id, consent_date, form_version=form_version),
        actor=actor,
        clock=clock,
    )


def record_consent_in(
    uow: UnitOfWork, study_id: str, screening_id: str, consent_date: dt.date, *, form_version: str
) -> ScreeningRecord:
    """:func:`record_consent` inside a unit of work the caller commits."""
    actor = _actor(uow)
    subject = get_subject(uow.session, study_id, screening_id, for_update=True)
    site = _site_of(uow, subject)
    _require_site_staff(uow, actor, site)
    if subject.status != SubjectStatus.REGISTERED.value:
        raise WorkflowError(f"subject {screening_id}: consent is recorded already (status {subject.status})")
    if not isinstance(consent_date, dt.date) or isinstance(consent_date, dt.datetime):
        raise WorkflowError(f"subject {screening_id}: the consent date must be a date (got {consent_date!r})")
    if consent_date > uow.now.date():
        raise WorkflowError(f"subject {screening_id}: consent date {consent_date} is in the future")
    if not form_version.strip() or len(form_version) > MAX_FORM_VERSION:
        raise WorkflowError(f"subject {screening_id}: the consent form version must be 1-64 characters")
    uow.audit.create(
        Consent(
            subject_id=subject.id,
            consent_date=consent_date,
            form_version=form_version.strip(),
            recorded_at=uow.now,
            recorded_by=actor,
        )
    )
    uow.audit.update(subject, {"status": SubjectStatus.CONSENTED.value}, reason="informed consent recorded")
    return _record(subject, site)


def enter_eligibility(
    db: Database,
    study_id: str,
    screening_id: str,
    facts: Mapping[str, Any],
    *,
    reason: str | None = None,
    actor: int,
    clock: Clock,
) -> EligibilityRecord:
    """Store the subject's eligibility facts and the engine's verdict with reasons.

    The first entry needs no reason; a correction (a later entry) needs one and becomes the next version,
    the earlier version staying on record. Refused before consent and after randomization. Facts that do not
    fit the protocol's declared facts raise ``FactsError`` naming each bad field; nothing is written then.
    """
    return run_grouped(
        db,
        lambda uow: enter_eligibility_in(uow, study_id, screening_id, facts, reason=reason),
        actor=actor,
        clock=clock,
    )


def enter_eligibility_in(
    uow: UnitOfWork, study_id: str, screening_id: str, facts: Mapping[str, Any], *, reason: str | None = None
) -> EligibilityRecord:
    """:func:`enter_eligibility` inside a unit of work the caller commits."""
    actor = _actor(uow)
    subject = get_subject(uow.session, study_id, screening_id, for_update=True)
    site = _site_of(uow, subject)
    _require_site_staff(uow, actor, site)
    if subject.status == SubjectStatus.REGISTERED.value or consent_of(uow.session, subject.id) is None:
        raise WorkflowError(f"subject {screening_id}: record informed consent before entering eligibility facts")
    if subject.status == SubjectStatus.RANDOMIZED.value:
        raise WorkflowError(f"subject {screening_id} is randomized; eligibility facts can no longer be changed here")
    previous = latest_facts(uow.session, subject.id)
    if previous is not None and not (reason and reason.strip()):
        raise WorkflowError(
            f"subject {screening_id}: facts version {previous.version} exists; a correction needs a reason"
        )
    protocol = _protocol(uow, study_id)
    checked = validate_facts(protocol, facts, source=f"eligibility facts of {screening_id}")
    result = evaluate_eligibility(protocol, checked, validate=False)
    strata = evaluate_strata(protocol, checked, validate=False)
    version = 1 if previous is None else previous.version + 1
    facts_row = ScreeningFacts(
        subject_id=subject.id,
        version=version,
        facts=to_jsonable(dict(facts)),
        entered_at=uow.now,
        entered_by=actor,
    )
    uow.audit.create(facts_row, reason=reason)
    criteria = [
        {**c.to_dict(), "missing_facts": list(c.missing_facts) if c.result is CriterionOutcome.UNKNOWN else []}
        for c in result.criteria
    ]
    uow.audit.create(
        EligibilityVerdict(
            subject_id=subject.id,
            facts_id=facts_row.id,
            status=result.status.value,
            criteria=criteria,
            strata={
                "levels": strata.to_dict(),
                "missing": {k: list(v) for k, v in strata.missing.items()},
                "unmatched": list(strata.unmatched),
            },
            evaluated_at=uow.now,
        )
    )
    status = SubjectStatus(result.status.value)
    uow.audit.update(
        subject,
        {"status": status.value},
        reason=f"eligibility facts version {version}: {result.status.value}",
    )
    return EligibilityRecord(
        study_id,
        screening_id,
        version,
        status,
        tuple(criteria),
        strata.to_dict(),
        result.missing_facts(),
    )


def get_screening(db: Database, study_id: str, screening_id: str) -> ScreeningRecord:
    """A subject's current screening record (read only)."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        site = session.get(Site, subject.site_id)
        assert site is not None
        return _record(subject, site)


def subject_site(db: Database, study_id: str, screening_id: str) -> str:
    """The code of the subject's site (one query: the site check of every subject route; read only).
    :class:`~trialtwin.store.errors.RecordNotFound` for an unknown subject."""
    with db.read_session() as session:
        return subject_site_code(session, study_id, screening_id)


def get_eligibility(db: Database, study_id: str, screening_id: str) -> EligibilityRecord | None:
    """The verdict on the subject's latest facts, or ``None`` before any facts (read only)."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        facts = latest_facts(session, subject.id)
        if facts is None:
            return None
        verdict = verdict_for(session, facts.id)
        assert verdict is not None
        missing: dict[str, None] = {}
        for c in verdict.criteria:
            missing.update(dict.fromkeys(c.get("missing_facts", ())))
        return EligibilityRecord(
            study_id,
            screening_id,
            facts.version,
            SubjectStatus(verdict.status),
            tuple(verdict.criteria),
            dict(verdict.strata.get("levels", {})),
            tuple(missing),
        )
