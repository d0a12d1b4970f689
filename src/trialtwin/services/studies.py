"""Load a study from its protocol: the study row (protocol data and SHA-256), its sites, and the empty
randomization state with its secret seed, and the SHA-256 of the randomization list that seed gives
(requirement E5/G3; :mod:`trialtwin.store.randomization_list`). Administrators only; audited."""

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
from trialtwin.store.randomization_list import IRT_LIST_SCHEMA, study_list
from trialtwin.store.repositories import get_study
from trialtwin.store.tables import Site, Study
from trialtwin.store.tables_irt import RandomizationListRecord

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
        if protocol.design.masking != "NONE":
            # Every role sees arms (subject records, export, audit): safe only for open-label trials. A blinded
            # trial needs concealed arms and emergency unblinding (requirement E8; ICH E6(R3) 4.1.4), not built.
            raise ServiceError(
                f"study {protocol.id!r} is blinded (design.masking {protocol.design.masking}); the service runs "
                "open-label trials only (no emergency unblinding yet)"
            )
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
        record_randomization_list(uow, protocol, seed, actor=actor)
        return StudyInfo(protocol.id, ident.nct_id, digest, tuple(s.id for s in protocol.sites))


def record_randomization_list(
    uow: UnitOfWork, protocol: Protocol, seed: int, *, actor: int, reason: str = "randomization list generated"
) -> str | None:
    """Generate the study's randomization list from ``seed`` and record its SHA-256 (audited create, reason
    "randomization list generated, sha256=…"; ICH E6(R3) 4.3.4, requirement E5/G3). The list itself is not
    stored (it follows from the sealed seed) and never shown to site roles (E2). ``None`` under
    minimisation, which has no list. ``reason`` replaces the reason's first part (a backfill says so)."""
    listing = study_list(protocol, seed)
    if listing is None:
        return None
    uow.audit.create(
        RandomizationListRecord(
            study_id=protocol.id,
            schema=IRT_LIST_SCHEMA,
            n_per_stratum=listing.n_per_stratum,
            n_strata=len(listing.list.strata),
            sha256=listing.sha256,
            generated_at=uow.now,
            generated_by=actor,
        ),
        reason=f"{reason}, sha256={listing.sha256}",
    )
    return listing.sha256


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
