"""The access policy: which roles may do each action, and whether a role's site limits it.

Every route (API and page) names one action of :data:`POLICY` through the :func:`trialtwin.web.deps.authorize`
dependency; ``tests/web/test_access_matrix.py`` walks the route table and checks every role × route ×
{own site, other site} against this table (21 CFR 11.10(d),(g); ICH E6(R3) 4.3.8; ASVS 8.2.1-8.2.3, 8.4.1;
trial-system-requirements B2, B3, G10).

Scopes:

* ``public``: no login (health, issuing an API token, the login page);
* ``self``: any logged-in user, whatever their roles (log out, revoke one's token, one's own account);
* ``study``: a role of the list, granted at any site of the study or at every site;
* ``site``: a role of the list *at the subject's site* (or at every site). A subject of another site is
  answered 404 with the same text as a subject that does not exist (no leak; ASVS 8.4.1).

``all_sites`` (the whole audit trail, the export): the role must be granted at every site, since the answer
covers every site's subjects; a role limited to some sites gets 403.

Least privilege: monitors and data managers read but never enter data (a data manager may invalidate a
mistaken randomization with a reason, requirement E7: a data-management decision kept from the site staff
who randomized); statisticians and the sponsor see the export only (no subject-level views); site roles never
see the randomization list or the seed (no route shows them to anyone; ICH E9 §2.3, requirement E2/G5) nor the
export; administrators manage accounts and sites (activation after approvals, D3) and read the audit trail but
do not enter or view subject data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["public", "self", "study", "site"]

ADMIN = "admin"
INVESTIGATOR = "investigator"
COORDINATOR = "coordinator"
MONITOR = "monitor"
DATA_MANAGER = "data_manager"
STATISTICIAN = "statistician"
SPONSOR = "sponsor"
#: The roles of the matrix (the values of ``trialtwin.store.tables.Role``).
ROLES: tuple[str, ...] = (ADMIN, INVESTIGATOR, COORDINATOR, MONITOR, DATA_MANAGER, STATISTICIAN, SPONSOR)

SITE_STAFF = frozenset({INVESTIGATOR, COORDINATOR})
SUBJECT_READERS = frozenset({INVESTIGATOR, COORDINATOR, MONITOR, DATA_MANAGER})


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """Who may do one action: ``roles`` and the ``scope`` that limits them; ``writes`` marks a state change."""

    roles: frozenset[str]
    scope: Scope
    description: str
    writes: bool = False
    all_sites: bool = False


def _rule(
    roles: Iterable[str], scope: Scope, description: str, *, writes: bool = False, all_sites: bool = False
) -> PolicyRule:
    return PolicyRule(frozenset(roles), scope, description, writes, all_sites)


POLICY: dict[str, PolicyRule] = {
    "public": _rule((), "public", "no login needed: health, API token, login page"),
    "self": _rule(ROLES, "self", "any logged-in user: log out, revoke own token, own account"),
    "account.password": _rule(
        ROLES, "self", "change one's own password (current one required; 21 CFR 11.300(b))", writes=True
    ),
    "study.read": _rule(ROLES, "study", "study, its sites and protocol summary"),
    "subject.read": _rule(SUBJECT_READERS, "site", "subject lists and records, schedule, signatures"),
    "subject.register": _rule(SITE_STAFF, "site", "register a screened person", writes=True),
    "consent.record": _rule(SITE_STAFF, "site", "record informed consent", writes=True),
    "eligibility.record": _rule(
        SITE_STAFF, "site", "enter eligibility facts (a correction needs a reason)", writes=True
    ),
    "eligibility.preview": _rule(SITE_STAFF, "study", "evaluate eligibility facts without saving"),
    "randomize": _rule(SITE_STAFF, "site", "randomize an eligible subject (IRT)", writes=True),
    "randomization.invalidate": _rule(
        {DATA_MANAGER}, "site", "invalidate a mistaken randomization with a reason (the allocation stays)", writes=True
    ),
    "visit.record": _rule(SITE_STAFF, "site", "dosing visit: weight, labs, dose decision", writes=True),
    "assessment.record": _rule(SITE_STAFF, "site", "tumour assessment (RECIST 1.1)", writes=True),
    "ae.record": _rule(SITE_STAFF, "site", "adverse event", writes=True),
    "disposition.record": _rule(
        SITE_STAFF, "site", "end of treatment, withdrawal, survival contact, death", writes=True
    ),
    "record.correct": _rule(SITE_STAFF, "site", "correct an entered clinical value (reason required)", writes=True),
    "sign": _rule({INVESTIGATOR}, "site", "e-sign a casebook or visit (21 CFR 11.200)", writes=True),
    "audit.read": _rule(
        {ADMIN, MONITOR, DATA_MANAGER}, "study", "the study's whole audit trail (read only)", all_sites=True
    ),
    "subject.audit": _rule(SUBJECT_READERS, "site", "one subject's audit trail (read only)"),
    "export": _rule({DATA_MANAGER, STATISTICIAN, SPONSOR}, "study", "analysis frames export", all_sites=True),
    "admin.users": _rule({ADMIN}, "study", "accounts and roles; security log", writes=True),
    "site.manage": _rule({ADMIN}, "study", "add a site (inactive); activate it after its approvals", writes=True),
    "clock.set": _rule(
        {ADMIN}, "study", "move the virtual clock forward (serve --virtual-clock, twin replays only)", writes=True
    ),
}


def rule(action: str) -> PolicyRule:
    """The rule of ``action`` (``KeyError`` naming the known actions for a typo)."""
    try:
        return POLICY[action]
    except KeyError:
        raise KeyError(f"unknown policy action {action!r} (known: {', '.join(sorted(POLICY))})") from None


ACTION_ATTRIBUTE = "trialtwin_action"
SUBJECT_ACTION_ATTRIBUTE = "trialtwin_subject_action"


def action_of(call: Callable[..., Any] | None) -> str | None:
    """The policy action a dependency callable enforces, if it is one made by ``authorize``."""
    return getattr(call, ACTION_ATTRIBUTE, None) if call is not None else None


def route_action(route: Any) -> str | None:
    """The policy action a FastAPI route names (searching its dependency tree), or ``None``."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    for dep in _walk(dependant):
        found = action_of(dep.call)
        if found is not None:
            return found
    return None


def route_subject_action(route: Any) -> tuple[str, str] | None:
    """``(query parameter, action)`` when the route switches to a subject-level action for a query parameter."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    for dep in _walk(dependant):
        found = getattr(dep.call, SUBJECT_ACTION_ATTRIBUTE, None)
        if found is not None:
            query, action = found
            return str(query), str(action)
    return None


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One concrete route of the app: method, full path, its policy action (``None`` when it names none)."""

    method: str
    path: str
    action: str | None
    subject_action: tuple[str, str] | None
    route: Any


def walk_routes(app: Any) -> list[RouteEntry]:
    """Every (method, path) the app serves with the policy action it names (mounts such as /static and the
    OpenAPI document excluded)."""
    from fastapi.routing import iter_route_contexts

    out: list[RouteEntry] = []
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if getattr(original, "dependant", None) is None:
            continue
        for method in sorted(context.methods or ()):
            if method == "HEAD":
                continue
            out.append(
                RouteEntry(method, str(context.path), route_action(original), route_subject_action(original), original)
            )
    return out


def _walk(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def policy_table_markdown() -> str:
    """The policy as a Markdown table (for docs/service/web.md)."""
    lines = ["| action | scope | " + " | ".join(ROLES) + " | what |", "|---|---|" + "---|" * len(ROLES) + "---|"]
    for name, r in POLICY.items():
        marks = ["any" if r.scope == "public" else ("✓" if (role in r.roles) else "·") for role in ROLES]
        scope = r.scope + (" (all sites)" if r.all_sites else "")
        lines.append(f"| `{name}` | {scope} | " + " | ".join(marks) + f" | {r.description} |")
    return "\n".join(lines)
