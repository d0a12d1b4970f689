"""Randomize a subject (the IRT): one transaction that loads the state under a lock, lets the engine
allocate, and writes the allocation, the new state and their audit entries.

Refused, with nothing written (trial-system-requirements B8, E3):

* before consent, or when the latest eligibility verdict is not "eligible";
* when a stratification factor cannot be derived from the stored facts (ICH E9 §2.3.2: stratified
  randomization needs every factor; the message names the missing facts);
* when the subject is randomized already (a subject is never randomized twice).

Locks, in this order (the same order everywhere, so PostgreSQL cannot deadlock): the study's randomization
state row, the subject row, the audit chain head. The subject is read after the state lock, so two requests
for one subject are served one after the other and the second is refused. The subject number is
``<site>-<ledger sequence, 4 digits>``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from trialtwin.engine.randomization import Subject as EngineSubject
from trialtwin.engine.strata import evaluate_strata
from trialtwin.services.access import SITE_STAFF, require_role
from trialtwin.services.errors import AlreadyRandomized, PermissionDenied, WorkflowError
from trialtwin.services.studies import study_protocol
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.ledger import allocate_next, load_state
from trialtwin.store.repositories import consent_of, get_subject, latest_facts, ledger_entry_for, verdict_for
from trialtwin.store.tables import LedgerEntry, Site, Subject, SubjectStatus


@dataclass(frozen=True, slots=True)
class RandomizationResult:
    """The allocation as the site sees it: subject number, arm, stratum, ledger sequence, slot in stratum."""

    study_id: str
    screening_id: str
    subject_number: str
    arm: str
    stratum: str
    levels: dict[str, str]
    sequence: int
    stratum_sequence: int
    randomized_at: dt.datetime


def _result(subject: Subject, entry: LedgerEntry) -> RandomizationResult:
    assert subject.subject_number is not None
    return RandomizationResult(
        subject.study_id,
        subject.screening_id,
        subject.subject_number,
        entry.arm,
        entry.stratum,
        dict(entry.levels),
        entry.sequence,
        entry.stratum_sequence,
        entry.randomized_at,
    )


def randomize(db: Database, study_id: str, screening_id: str, *, actor: int, clock: Clock) -> RandomizationResult:
    """Allocate an eligible, consented subject to an arm (see the module docstring for the refusals)."""
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        return randomize_in(uow, study_id, screening_id)


def randomize_in(uow: UnitOfWork, study_id: str, screening_id: str) -> RandomizationResult:
    """:func:`randomize` inside a unit of work the caller commits."""
    if uow.actor is None:
        raise PermissionDenied("randomization needs an acting user")
    actor = uow.actor
    session = uow.session
    protocol = study_protocol(session, study_id)
    locked = load_state(session, study_id, for_update=True)
    subject = get_subject(session, study_id, screening_id, for_update=True)
    site = session.get(Site, subject.site_id)
    assert site is not None
    require_role(session, actor, SITE_STAFF, site=site)
    if subject.status == SubjectStatus.RANDOMIZED.value:
        done = ledger_entry_for(session, subject.id)
        when = f" on {done.randomized_at:%Y-%m-%d %H:%M} UTC" if done is not None else ""
        raise AlreadyRandomized(
            f"subject {screening_id} is randomized already as {subject.subject_number}{when}; "
            "a subject is never randomized twice"
        )
    if consent_of(session, subject.id) is None:
        raise WorkflowError(f"subject {screening_id}: record informed consent before randomization")
    facts = latest_facts(session, subject.id)
    verdict = verdict_for(session, facts.id) if facts is not None else None
    if facts is None or verdict is None:
        raise WorkflowError(f"subject {screening_id}: enter eligibility facts before randomization")
    if verdict.status != "eligible" or subject.status != SubjectStatus.ELIGIBLE.value:
        raise WorkflowError(
            f"subject {screening_id} is not eligible (verdict on facts version {facts.version}: "
            f"{verdict.status}); only eligible subjects are randomized"
        )
    strata = evaluate_strata(protocol, facts.facts)
    if not strata.complete:
        problems = [f"{f} needs {', '.join(names) or 'a rule'}" for f, names in strata.missing.items()]
        problems += [f"{f} has no level matching the facts" for f in strata.unmatched]
        raise WorkflowError(
            f"subject {screening_id}: stratification is incomplete ({'; '.join(problems)}); "
            "enter the missing facts (a correction, with a reason) first"
        )
    allocation = allocate_next(
        session,
        uow.audit,
        study_id,
        subject.id,
        EngineSubject(screening_id, strata.levels),
        user_id=actor,
        now=uow.now,
        locked=locked,
    )
    entry = allocation.entry
    uow.audit.update(
        subject,
        {"status": SubjectStatus.RANDOMIZED.value, "subject_number": f"{site.code}-{entry.sequence:04d}"},
        reason=f"randomized: ledger sequence {entry.sequence}",
    )
    return _result(subject, entry)


def get_randomization(db: Database, study_id: str, screening_id: str) -> RandomizationResult | None:
    """The subject's allocation, or ``None`` when not randomized (read only)."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        entry = ledger_entry_for(session, subject.id)
        return None if entry is None else _result(subject, entry)
