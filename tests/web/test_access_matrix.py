"""The access matrix (trial-system-requirements G10, B2, B3, E2; 21 CFR 11.10(d),(g); ASVS 8.2.1-8.2.3, 8.4.1).

Every principal (anonymous and one user per role; site roles and a site-limited monitor at CN-001) × every route
the app serves (API and pages, read from the route table) × {own site CN-001, other site CN-002} is requested,
and the outcome is compared with the one the policy table (``trialtwin.web.policy.POLICY``) implies:

* anonymous on a non-public route → 401 (API) or a redirect to the login page (pages);
* a role outside the action's roles → 403; an ``all_sites`` action with a site-limited role → 403;
* a site-scoped action on another site's subject → 404 (same as a subject that does not exist); a site in the
  body (registration) of another site → 403;
* otherwise allowed: any status other than 401/403/404 and never a 5xx (a public form, i.e. the login page,
  may answer 403 for its own pre-session CSRF check).

Write requests carry an empty body, so an allowed write fails validation (422) and changes nothing; the
exceptions are registration (the site goes in the body) and randomization of an already randomized subject
(409). Every allowed answer to a site-limited principal is also searched for the other site's screening ids
(no leak in lists, audit entries or error text).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from _web import PASSWORD, STUDY, USERS, Web
from fastapi.testclient import TestClient

from trialtwin.web.policy import POLICY, ROLES, RouteEntry, walk_routes

#: The principals of the matrix: anonymous, then one user per role (site roles and monitor1 limited to CN-001).
PRINCIPALS: dict[str, str | None] = {
    "anonymous": None,
    "admin": "admin",
    "investigator": "inv1",
    "coordinator": "coord1",
    "monitor": "monitor",
    "monitor@CN-001": "monitor1",
    "data_manager": "datamanager",
    "statistician": "statistician",
    "sponsor": "sponsor",
}
OWN, OTHER = "CN-001", "CN-002"


@dataclass(frozen=True)
class Case:
    principal: str
    method: str
    path: str
    variant: str  # "own" | "other" | "study" (whole-study variant of the audit route)
    action: str


def _grant(principal: str) -> tuple[str, str | None] | None:
    username = PRINCIPALS[principal]
    if username is None:
        return None
    if username == "admin":
        return ("admin", None)
    return USERS[username]


def expected(case: Case, *, body_site: bool, subject_in_request: bool) -> str:
    rule = POLICY[case.action]
    grant = _grant(case.principal)
    if rule.scope == "public":
        return "allowed"
    if grant is None:
        return "unauthenticated"
    role, site = grant
    if rule.scope == "self":
        return "allowed"
    if role not in rule.roles:
        return "forbidden"
    if rule.all_sites and site is not None:
        return "forbidden"
    if rule.scope == "site" and site is not None and case.variant == "other":
        if subject_in_request:
            return "not_found"
        if body_site:
            return "forbidden"
    return "allowed"


def outcome(status: int, location: str) -> str:
    if status >= 500:
        return "server_error"
    if status == 401 or (status in (302, 303, 307) and "/login?next=" in location):
        return "unauthenticated"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "not_found"
    return "allowed"


def _path(entry: RouteEntry, subject: str) -> str | None:
    values = {"study_id": STUDY, "screening_id": subject, "event_id": "1", "visit_id": "1"}
    values |= {"site_code": OWN}  # site activation (an empty body: 422, no change)
    values |= {"username": "inv1", "assignment_id": "1"}  # admin routes (writes get an empty body: 422, no change)
    names = re.findall(r"{([^}:]+)(?::[^}]*)?}", entry.path)
    if any(n not in values for n in names):
        return None
    return re.sub(r"{([^}:]+)(?::[^}]*)?}", lambda m: values[m.group(1)], entry.path)


class Clients:
    """One logged-in client per principal (re-created after a logout route ended its session)."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.cache: dict[str, tuple[TestClient, str | None]] = {}

    def get(self, principal: str, *, fresh: bool = False) -> tuple[TestClient, str | None]:
        if fresh or principal not in self.cache:
            client = self.web.new_client(follow_redirects=False)
            csrf = None
            username = PRINCIPALS[principal]
            if username is not None:
                r = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
                assert r.status_code == 200, r.text
                csrf = r.json()["csrf_token"]
            if fresh:
                return client, csrf
            self.cache[principal] = (client, csrf)
        return self.cache[principal]


def _request(client: TestClient, csrf: str | None, method: str, url: str, body: Any) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf and method not in ("GET", "HEAD") else {}
    if method in ("GET", "DELETE"):
        return client.request(method, url, headers=headers)
    if not url.startswith("/api/"):  # pages take HTML forms
        return client.request(method, url, headers=headers, data=body)
    return client.request(method, url, headers=headers, json=body)


def test_every_role_route_and_site_matches_the_policy_table(web: Web) -> None:
    entries = walk_routes(web.app)
    unnamed = [f"{e.method} {e.path}" for e in entries if e.action is None]
    assert not unnamed, f"routes without a policy action (use Depends(authorize(...))): {unnamed}"
    unknown = sorted({e.action for e in entries if e.action not in POLICY})
    assert not unknown, f"routes name actions missing from POLICY: {unknown}"
    clients = Clients(web)
    mismatches: list[str] = []
    counts: Counter[str] = Counter()
    untested: list[str] = []
    subjects = {"own": web.subjects[OWN]["randomized"], "other": web.subjects[OTHER]["randomized"]}
    other_ids = set(web.subjects[OTHER].values())
    for entry in entries:
        site_dependent = "{screening_id}" in entry.path or entry.path.endswith("/studies/{study_id}/subjects")
        variants: list[tuple[str, str, dict[str, str]]] = [("own", entry.action or "", {})]
        if site_dependent:  # other routes answer the same for both sites: one request suffices
            variants.append(("other", entry.action or "", {}))
        if entry.subject_action is not None:
            param, sub_action = entry.subject_action
            variants = [
                ("study", entry.action or "", {}),
                ("own", sub_action, {param: subjects["own"]}),
                ("other", sub_action, {param: subjects["other"]}),
            ]
        for variant, action, query in variants:
            subject = subjects["own" if variant == "study" else variant]
            url = _path(entry, subject)
            if url is None:
                untested.append(f"{entry.method} {entry.path}")
                break
            if query:
                url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
            body_site = entry.method == "POST" and entry.path.endswith("/studies/{study_id}/subjects")
            body: Any = {"site": OWN if variant != "other" else OTHER} if body_site else {}
            subject_in_request = "{screening_id}" in entry.path or bool(query)
            for principal in PRINCIPALS:
                case = Case(principal, entry.method, entry.path, variant, action)
                logout = POLICY[action].scope == "self" and entry.method != "GET"
                client, csrf = clients.get(principal, fresh=logout)
                response = _request(client, csrf, entry.method, url, body)
                got = outcome(response.status_code, response.headers.get("location", ""))
                want = expected(case, body_site=body_site, subject_in_request=subject_in_request)
                counts[got] += 1
                if want == "allowed" and POLICY[action].scope == "public" and got in ("forbidden", "not_found"):
                    got = "allowed"  # a public form's own check (the login form's CSRF cookie), not the policy
                if got != want:
                    mismatches.append(
                        f"{principal:15} {entry.method:6} {url} [{action}, {variant}]: "
                        f"expected {want}, got {response.status_code} {response.text[:120]}"
                    )
                site_limited = (_grant(principal) or ("", None))[1] is not None
                if got == "allowed" and site_limited:
                    leaked = [i for i in other_ids if i in response.text]
                    if leaked:
                        mismatches.append(f"{principal} {entry.method} {url}: response shows other-site ids {leaked}")
    assert not untested, f"routes with path parameters the matrix cannot fill: {untested}"
    assert counts["server_error"] == 0
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:60])
    print(f"access matrix: {sum(counts.values())} requests over {len(entries)} routes: {dict(counts)}")
    # the matrix really exercised every kind of outcome
    assert counts["allowed"] and counts["forbidden"] and counts["not_found"] and counts["unauthenticated"]


def test_the_policy_covers_every_role_and_is_least_privilege() -> None:
    assert set().union(*(r.roles for r in POLICY.values())) == set(ROLES)
    writers = set().union(*(r.roles for r in POLICY.values() if r.writes and r.scope != "self"))
    assert "monitor" not in writers and "statistician" not in writers and "sponsor" not in writers
    # statisticians and the sponsor see no subject-level data (export and the study summary only)
    for role in ("statistician", "sponsor"):
        visible = {a for a, r in POLICY.items() if role in r.roles and r.scope not in ("public", "self")}
        assert visible == {"study.read", "export"}, (role, visible)
    # site roles never get the whole audit trail or the export (allocation concealment, E2/G5)
    for role in ("investigator", "coordinator"):
        assert role not in POLICY["audit.read"].roles and role not in POLICY["export"].roles
