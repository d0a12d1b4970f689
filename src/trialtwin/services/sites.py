"""Sites after loading: add a site (inactive) and activate it once its approvals are in (trial-system-requirements
D3; ICH E6(R3) 4.3.5: the trial starts at a site only after the required approvals).

The sites a protocol lists are loaded active (:func:`trialtwin.services.studies.load_study`): they are the
approved sites the protocol was loaded with, and existing databases, tests and demo data rely on that. A site
added later is **inactive** until :func:`activate_site` records the approval (reference, date, who, when;
audited). An inactive site registers no one (``register_screening`` refuses), so no subject of it can be
randomized. Administrators only (they load the study and its sites); policy action ``site.manage``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select

from trialtwin.services.access import ADMINS, require_role
from trialtwin.services.errors import ServiceError, WorkflowError
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.db import Database
from trialtwin.store.repositories import get_site, get_study
from trialtwin.store.tables import Site
from trialtwin.store.tables_irt import SiteActivation

#: Site codes: as the protocol's ids (letters, digits, ``.``, ``_``, ``-``; 1-64 characters).
SITE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SiteInputError(ServiceError):
    """A field of the request is invalid (422); the message names the field."""


@dataclass(frozen=True, slots=True)
class SiteStatus:
    """A site, whether it is active, and its latest activation (``None`` for a site loaded with the protocol)."""

    study_id: str
    code: str
    facility: str
    city: str
    country: str
    active: bool
    approval_ref: str | None = None
    approved_on: dt.date | None = None
    activated_at: dt.datetime | None = None


def _text(value: str | None, field: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise SiteInputError(f"{field}: required")
    if len(text) > limit:
        raise SiteInputError(f"{field}: at most {limit} characters (got {len(text)})")
    return text


def add_site(
    db: Database,
    study_id: str,
    code: str,
    *,
    facility: str,
    city: str,
    country: str,
    actor: int,
    clock: Clock,
) -> SiteStatus:
    """Add a site to a loaded study, **inactive** until :func:`activate_site` (D3). Administrators only."""
    if not isinstance(code, str) or not SITE_CODE.fullmatch(code):
        raise SiteInputError(f"code: {code!r} is not a site code (letters, digits, '.', '_', '-'; 1-64 characters)")
    values = {
        "facility": _text(facility, "facility", 2000),
        "city": _text(city, "city", 200),
        "country": _text(country, "country", 200),
    }
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        get_study(uow.session, study_id)
        exists = uow.session.execute(
            select(Site.id).where(Site.study_id == study_id, Site.code == code)
        ).scalar_one_or_none()
        if exists is not None:
            raise WorkflowError(f"study {study_id!r} has a site {code!r} already (site codes are never reused)")
        uow.audit.create(
            Site(study_id=study_id, code=code, active=False, **values),
            reason="site added; inactive until activated after its approvals",
        )
        return SiteStatus(study_id, code, values["facility"], values["city"], values["country"], False)


def activate_site(
    db: Database,
    study_id: str,
    code: str,
    *,
    approval_ref: str,
    approved_on: dt.date,
    actor: int,
    clock: Clock,
) -> SiteStatus:
    """Activate an inactive site: record the approval (reference and date; audited) and set it active."""
    ref = _text(approval_ref, "approval_ref", 200)
    if not isinstance(approved_on, dt.date) or isinstance(approved_on, dt.datetime):
        raise SiteInputError("approved_on: give the approval date (YYYY-MM-DD)")
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        require_role(uow.session, actor, ADMINS)
        if approved_on > uow.now.date():
            raise SiteInputError(f"approved_on: {approved_on} is after today ({uow.now.date()} UTC)")
        site = get_site(uow.session, study_id, code, for_update=True)
        if site.active:
            raise WorkflowError(f"site {code} of study {study_id!r} is active already")
        activation = SiteActivation(
            site_id=site.id, approval_ref=ref, approved_on=approved_on, activated_at=uow.now, activated_by=actor
        )
        uow.audit.create(activation, reason=f"site {code} activated: approval {ref} of {approved_on}")
        uow.audit.update(site, {"active": True}, reason=f"site activated after approval {ref} of {approved_on}")
        return _status(site, activation)


def site_status(db: Database, study_id: str, code: str) -> SiteStatus:
    """The site and its latest activation (read only)."""
    with db.read_session() as session:
        site = get_site(session, study_id, code)
        latest = session.execute(
            select(SiteActivation).where(SiteActivation.site_id == site.id).order_by(SiteActivation.id.desc()).limit(1)
        ).scalar_one_or_none()
        return _status(site, latest)


def _status(site: Site, activation: SiteActivation | None) -> SiteStatus:
    return SiteStatus(
        site.study_id,
        site.code,
        site.facility,
        site.city,
        site.country,
        site.active,
        None if activation is None else activation.approval_ref,
        None if activation is None else activation.approved_on,
        None if activation is None else activation.activated_at,
    )


def require_active_site(site: Site) -> None:
    """:class:`WorkflowError` unless ``site`` is active: the check ``randomize_in`` should make (D3)."""
    if not site.active:
        raise WorkflowError(f"site {site.code} is not activated (approvals pending); randomization there is refused")
