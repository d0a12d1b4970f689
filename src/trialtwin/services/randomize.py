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

:func:`randomize` hands the use case to the database's group-commit writer
(:func:`trialtwin.services.uow.run_grouped`): concurrent randomizations are committed together, each with its
own unit of work and audit entries, each answered only after that commit. The ledger is the same as with one
transaction each (same order of locks, same checks, same rows). In one transaction the protocol, the study's
sites and the actor's roles are read, and the actor's role at a site checked, once; and the writer runs
:func:`prefetch_group` first, which locks the group's subjects (after the state row) and reads their screening
rows in three queries instead of two per randomization.

Idempotent retries (``Idempotency-Key``, requirement G2) are :mod:`trialtwin.services.idempotency`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from trialtwin.engine.randomization import Subject as EngineSubject
from trialtwin.engine.strata import evaluate_strata
from trialtwin.protocol.model import Protocol
from trialtwin.services.access import SITE_STAFF, require_role
from trialtwin.services.errors import AlreadyRandomized, PermissionDenied, WorkflowError
from trialtwin.services.studies import study_protocol
from trialtwin.services.uow import PREFETCHED, Clock, Prefetch, UnitOfWork, run_grouped, run_grouped_async
from trialtwin.store.db import Database
from trialtwin.store.ledger import allocate_next, load_state
from trialtwin.store.repositories import active_roles, consent_of, get_subject, ledger_entry_for
from trialtwin.store.tables import (
    Consent,
    EligibilityVerdict,
    LedgerEntry,
    ScreeningFacts,
    Site,
    Subject,
    SubjectStatus,
    User,
)
from trialtwin.store.tables_irt import SOURCE_IRT

#: ``session.info`` keys: protocols read in this transaction; (actor, site) pairs checked in it.
_PROTOCOLS = "trialtwin.protocols"
_ROLE_CHECKS = "trialtwin.site_staff_checks"
#: ``session.info`` keys: the study's sites; each actor's site-staff grants (read once per transaction).
_SITES = "trialtwin.sites"
_STAFF_GRANTS = "trialtwin.site_staff_grants"


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
    """Allocate an eligible, consented subject to an arm (see the module docstring for the refusals).
    Returns once the allocation is committed (group commit)."""
    use_case, prefetch = _allocation(study_id, screening_id)
    return run_grouped(db, use_case, actor=actor, clock=clock, prefetch=prefetch)


async def randomize_async(
    db: Database, study_id: str, screening_id: str, *, actor: int, clock: Clock
) -> RandomizationResult:
    """:func:`randomize` for an asyncio caller (the web API): awaits the group commit instead of blocking a
    thread on it (:func:`trialtwin.services.uow.run_grouped_async`)."""
    use_case, prefetch = _allocation(study_id, screening_id)
    return await run_grouped_async(db, use_case, actor=actor, clock=clock, prefetch=prefetch)


def _allocation(
    study_id: str, screening_id: str
) -> tuple[Callable[[UnitOfWork], RandomizationResult], tuple[Prefetch, Any]]:
    """The group-commit job of one randomization: the use case and its group prefetch."""
    return (lambda uow: randomize_in(uow, study_id, screening_id)), (prefetch_group, (study_id, screening_id))


def _protocol(uow: UnitOfWork, study_id: str) -> Protocol:
    # One look-up per transaction (a group commit randomizes many subjects in one).
    protocols: dict[str, Protocol] = uow.session.info.setdefault(_PROTOCOLS, {})
    protocol = protocols.get(study_id)
    if protocol is None:
        protocol = protocols[study_id] = study_protocol(uow.session, study_id)
    return protocol


_CONSENTED = select(Consent.id).where(Consent.subject_id == bindparam("subject")).exists()
#: The latest facts, their verdict and whether a consent exists, in one query (the rows of ``consent_of``,
#: ``latest_facts`` and ``verdict_for``); built once, so only the parameter changes per call.
_SCREENING = (
    select(ScreeningFacts, EligibilityVerdict, _CONSENTED)
    .outerjoin(EligibilityVerdict, EligibilityVerdict.facts_id == ScreeningFacts.id)
    .where(ScreeningFacts.subject_id == bindparam("subject"))
    .order_by(ScreeningFacts.version.desc())
    .limit(1)
)
#: The subject, locked and read afresh (populate_existing): a row this session read earlier in a group
#: transaction may have been changed by another transaction since (PostgreSQL READ COMMITTED).
_LOCK_SUBJECT = (
    select(Subject)
    .where(Subject.study_id == bindparam("study"), Subject.screening_id == bindparam("screening_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


#: ``session.info[PREFETCHED]`` key: ``{(study id, screening id): (subject, consented, facts, verdict)}``.
_PREFETCHED_SUBJECTS = "randomize"


def prefetch_group(session: Session, requests: list[tuple[str, str]]) -> None:
    """The group-commit prefetch of :func:`randomize` (:func:`trialtwin.services.uow.run_grouped`): for the
    ``(study id, screening id)`` of every randomization in the group, in the usual lock order, lock each
    study's state row, then lock all its subjects in one query (in id order), then read their consents,
    latest facts and verdicts in two more, after the locks (so, as one by one, what is read is what the
    subject's lock holders committed). :func:`randomize_in` then takes its subject from there, once."""
    found: dict[tuple[str, str], tuple[Subject, bool, ScreeningFacts | None, EligibilityVerdict | None]] = {}
    by_study: dict[str, set[str]] = {}
    for study_id, screening_id in requests:
        by_study.setdefault(study_id, set()).add(screening_id)
    for study_id, screening_ids in sorted(by_study.items()):
        load_state(session, study_id, for_update=True)
        subjects = list(
            session.execute(
                select(Subject)
                .where(Subject.study_id == study_id, Subject.screening_id.in_(sorted(screening_ids)))
                .order_by(Subject.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).scalars()
        )
        if not subjects:
            continue
        pks = [subject.id for subject in subjects]
        consented = set(session.execute(select(Consent.subject_id).where(Consent.subject_id.in_(pks))).scalars())
        latest = (
            select(ScreeningFacts.subject_id, func.max(ScreeningFacts.version).label("version"))
            .where(ScreeningFacts.subject_id.in_(pks))
            .group_by(ScreeningFacts.subject_id)
            .subquery()
        )
        screening = session.execute(
            select(ScreeningFacts, EligibilityVerdict)
            .join(
                latest,
                and_(ScreeningFacts.subject_id == latest.c.subject_id, ScreeningFacts.version == latest.c.version),
            )
            .outerjoin(EligibilityVerdict, EligibilityVerdict.facts_id == ScreeningFacts.id)
            .execution_options(populate_existing=True)
        ).all()
        facts = {row[0].subject_id: (row[0], row[1]) for row in screening}
        for subject in subjects:
            latest_facts, verdict = facts.get(subject.id, (None, None))
            found[(study_id, subject.screening_id)] = (subject, subject.id in consented, latest_facts, verdict)
    session.info.setdefault(PREFETCHED, {})[_PREFETCHED_SUBJECTS] = found


def _prefetched(
    uow: UnitOfWork, study_id: str, screening_id: str
) -> tuple[Subject, bool, ScreeningFacts | None, EligibilityVerdict | None] | None:
    prefetched = uow.session.info.get(PREFETCHED, {}).get(_PREFETCHED_SUBJECTS)
    return None if prefetched is None else prefetched.pop((study_id, screening_id), None)


def _screening(uow: UnitOfWork, subject_pk: int) -> tuple[bool, ScreeningFacts | None, EligibilityVerdict | None]:
    """Whether the subject has a consent, its latest facts and their verdict."""
    row = uow.session.execute(_SCREENING, {"subject": subject_pk}).first()
    if row is None:
        return consent_of(uow.session, subject_pk) is not None, None, None
    return bool(row[2]), row[0], row[1]


def _lock_subject(uow: UnitOfWork, study_id: str, screening_id: str) -> Subject:
    params = {"study": study_id, "screening_id": screening_id}
    subject = uow.session.execute(_LOCK_SUBJECT, params).scalar_one_or_none()
    return subject if subject is not None else get_subject(uow.session, study_id, screening_id)  # raises


def _sites(uow: UnitOfWork, study_id: str) -> dict[int, Site]:
    """The study's sites by id, read once per transaction (one query instead of one per site)."""
    sites: dict[str, dict[int, Site]] = uow.session.info.setdefault(_SITES, {})
    found = sites.get(study_id)
    if found is None:
        rows = uow.session.execute(select(Site).where(Site.study_id == study_id)).scalars()
        found = sites[study_id] = {site.id: site for site in rows}  # also keeps them in the (weak) identity map
    return found


def _staff_grants(uow: UnitOfWork, actor: int) -> frozenset[int | None]:
    """The sites where ``actor`` is active site staff (``None``: every site), read once per transaction; empty
    when the account is unknown or disabled (then :func:`require_role` runs and says why)."""
    grants: dict[int, frozenset[int | None]] = uow.session.info.setdefault(_STAFF_GRANTS, {})
    found = grants.get(actor)
    if found is None:
        user = uow.session.get(User, actor)
        wanted = {role.value for role in SITE_STAFF}
        found = grants[actor] = (
            frozenset(a.site_id for a in active_roles(uow.session, actor) if a.role in wanted)
            if user is not None and user.active
            else frozenset()
        )
    return found


def _site_staff(uow: UnitOfWork, study_id: str, actor: int, site_pk: int) -> Site:
    """The subject's site, once the actor is known to be site staff there (checked once per transaction and
    (actor, site): a group commit is one transaction, as if every check ran at its start). The actor's
    account and active roles, and the study's sites, are read once per transaction; a refusal is
    :func:`require_role`'s (same checks, its message)."""
    checked: dict[tuple[int, int], Site] = uow.session.info.setdefault(_ROLE_CHECKS, {})
    site = checked.get((actor, site_pk))
    if site is None:
        site = _sites(uow, study_id).get(site_pk) or uow.session.get(Site, site_pk)
        assert site is not None
        grants = _staff_grants(uow, actor)
        if None not in grants and site.id not in grants:
            require_role(uow.session, actor, SITE_STAFF, site=site)
        checked[(actor, site_pk)] = site
    return site


def randomize_in(uow: UnitOfWork, study_id: str, screening_id: str, *, source: str = SOURCE_IRT) -> RandomizationResult:
    """:func:`randomize` inside a unit of work the caller commits; ``source`` marks the ledger row (``manual``:
    an emergency-list allocation entered later, :mod:`trialtwin.services.irt`)."""
    if uow.actor is None:
        raise PermissionDenied("randomization needs an acting user")
    actor = uow.actor
    session = uow.session
    protocol = _protocol(uow, study_id)
    locked = load_state(session, study_id, for_update=True)
    prefetched = _prefetched(uow, study_id, screening_id)
    subject = prefetched[0] if prefetched is not None else _lock_subject(uow, study_id, screening_id)
    site = _site_staff(uow, study_id, actor, subject.site_id)
    if not site.active:  # requirement D3: a site randomizes only while activated (approvals in place)
        raise WorkflowError(f"site {site.code} is not active (approvals pending); randomization there is refused")
    if subject.status == SubjectStatus.RANDOMIZED.value:
        done = ledger_entry_for(session, subject.id)
        when = f" on {done.randomized_at:%Y-%m-%d %H:%M} UTC" if done is not None else ""
        raise AlreadyRandomized(
            f"subject {screening_id} is randomized already as {subject.subject_number}{when}; "
            "a subject is never randomized twice"
        )
    consented, facts, verdict = prefetched[1:] if prefetched is not None else _screening(uow, subject.id)
    if not consented:
        raise WorkflowError(f"subject {screening_id}: record informed consent before randomization")
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

    def number_subject(entry: LedgerEntry) -> None:  # flushed with the ledger row
        uow.audit.update(
            subject,
            {"status": SubjectStatus.RANDOMIZED.value, "subject_number": f"{site.code}-{entry.sequence:04d}"},
            reason=f"randomized: ledger sequence {entry.sequence}",
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
        then=number_subject,
        source=source,
    )
    entry = allocation.entry
    return _result(subject, entry)


def get_randomization(db: Database, study_id: str, screening_id: str) -> RandomizationResult | None:
    """The subject's allocation, or ``None`` when not randomized (read only)."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        entry = ledger_entry_for(session, subject.id)
        return None if entry is None else _result(subject, entry)
