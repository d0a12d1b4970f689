"""Load a study from its protocol: the study row (protocol data and SHA-256), its sites, and the empty
randomization state with its secret seed. Administrators only; audited."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialtwin.protocol.io import protocol_from_data, protocol_to_data
from trialtwin.protocol.model import Protocol
from trialtwin.services.access import ADMINS, require_role
from trialtwin.services.errors import ServiceError
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.audit import canonical_json
from trialtwin.store.db import Database
from trialtwin.store.ledger import new_state_row
from trialtwin.store.repositories import get_study
from trialtwin.store.tables import Site, Study

_cache: dict[tuple[str, str], Protocol] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class StudyInfo:
    id: str
    nct_id: str
    protocol_sha256: str
    sites: tuple[str, ...]


def protocol_digest(protocol: Protocol) -> str:
    """SHA-256 of the protocol's canonical JSON (what the study row records)."""
    return hashlib.sha256(canonical_json(protocol_to_data(protocol)).encode("utf-8")).hexdigest()


def load_study(db: Database, protocol: Protocol, *, seed: int, actor: int, clock: Clock) -> StudyInfo:
    """Store ``protocol`` as a study with its sites and an empty randomization state seeded with ``seed``
    (keep the seed sealed). Loading the same protocol again changes nothing; a different protocol under the
    same id is refused (amendments are not supported yet)."""
    digest = protocol_digest(protocol)
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        existing = uow.session.get(Study, protocol.id)
        if existing is not None:
            if existing.protocol_sha256 != digest:
                raise ServiceError(
                    f"study {protocol.id!r} is loaded with another protocol "
                    f"(SHA-256 {existing.protocol_sha256[:12]}…); protocol amendments are not supported yet"
                )
            return StudyInfo(existing.id, existing.nct_id, digest, tuple(s.id for s in protocol.sites))
        if protocol.randomization is None:
            raise ServiceError(f"study {protocol.id!r} declares no randomization section; the IRT needs one")
        ident = protocol.identification
        uow.audit.create(
            Study(
                id=protocol.id,
                nct_id=ident.nct_id,
                title=ident.brief_title,
                protocol=protocol_to_data(protocol),
                protocol_sha256=digest,
                loaded_at=uow.now,
                loaded_by=actor,
            )
        )
        for site in protocol.sites:
            uow.audit.create(
                Site(
                    study_id=protocol.id,
                    code=site.id,
                    facility=site.facility,
                    city=site.city,
                    country=site.country,
                    active=True,
                )
            )
        uow.audit.create(new_state_row(protocol, seed=seed, now=uow.now))
        return StudyInfo(protocol.id, ident.nct_id, digest, tuple(s.id for s in protocol.sites))


def study_protocol(session: Session, study_id: str) -> Protocol:
    """The protocol of a loaded study (parsed once per process and digest)."""
    digest = session.execute(select(Study.protocol_sha256).where(Study.id == study_id)).scalar_one_or_none()
    if digest is None:
        get_study(session, study_id)  # raises RecordNotFound listing the loaded studies
    key = (study_id, str(digest))
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        study = get_study(session, study_id)
        cached = protocol_from_data(study.protocol, f"study {study_id!r} in the database")
        with _cache_lock:
            _cache[key] = cached
    return cached
