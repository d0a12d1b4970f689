"""Who may do what: active account plus a role, at the subject's site or at every site.

Policy (trial-system-requirements B2/B3, a first cut of the G10 matrix):

=======================  ====================================
use case                 roles (site-scoped unless "any site")
=======================  ====================================
load study, users, roles admin (any site)
register, consent,       investigator, coordinator
eligibility, randomize
=======================  ====================================
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from trialtwin.services.errors import PermissionDenied
from trialtwin.store.repositories import active_roles
from trialtwin.store.tables import Role, Site, User

#: Roles that enter a site's screening and randomization data.
SITE_STAFF: frozenset[Role] = frozenset({Role.INVESTIGATOR, Role.COORDINATOR})
ADMINS: frozenset[Role] = frozenset({Role.ADMIN})


def require_role(session: Session, actor: int | None, roles: Iterable[Role], *, site: Site | None = None) -> User:
    """The acting user, if active and holding one of ``roles`` at ``site`` (or at every site); otherwise
    :class:`PermissionDenied` naming what is missing."""
    wanted = {Role(r).value for r in roles}
    user = session.get(User, actor) if actor is not None else None
    if user is None:
        raise PermissionDenied(f"unknown user id {actor!r}")
    if not user.active:
        raise PermissionDenied(f"user {user.username!r} is disabled")
    for assignment in active_roles(session, user.id):
        if assignment.role in wanted and (
            assignment.site_id is None or (site is not None and assignment.site_id == site.id)
        ):
            return user
    where = f" at site {site.code}" if site is not None else ""
    raise PermissionDenied(f"user {user.username!r} needs the role {' or '.join(sorted(wanted))}{where}")
