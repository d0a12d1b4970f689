"""API tokens (B7; 21 CFR 11.10(h); ASVS 7.2.2), clear 4xx errors naming the field (issue 7 item 9), and
idempotent randomization (G2)."""

from __future__ import annotations

import datetime as dt

from _trial import facts_for
from _web import PASSWORD, STUDY, Web
from sqlalchemy import func, select

from trialtwin.protocol import load_protocol
from trialtwin.services import RecordNotFound, grant_role, load_study, revoke_role
from trialtwin.services.sessions import identity_of
from trialtwin.services.subjects import subject_site
from trialtwin.services.tokens import TokenState, resolve_token, resolve_token_at
from trialtwin.store.tables import LedgerEntry, RoleAssignment, User
from trialtwin.store.tables_access import ApiToken, SecurityEvent


def test_token_is_bound_to_its_study(web: Web) -> None:
    with web.db.read_session() as s:
        admin = s.execute(select(User.id).where(User.username == "admin")).scalar_one()
    load_study(web.db, load_protocol("tropics-02"), seed=1, actor=admin, clock=web.clock)
    ever = web.bearer("monitor")
    assert web.client.get(f"/api/v1/studies/{STUDY}").status_code == 401
    assert web.client.get(f"/api/v1/studies/{STUDY}", headers=ever).status_code == 200
    r = web.client.get("/api/v1/studies/tropics-02", headers=ever)
    assert r.status_code == 403 and "bound to study" in r.json()["detail"]
    assert [s["id"] for s in web.client.get("/api/v1/studies", headers=ever).json()] == [STUDY]
    other = {"Authorization": f"Bearer {web.token('monitor', 'tropics-02')}"}
    assert web.client.get("/api/v1/studies/tropics-02", headers=other).status_code == 200
    assert web.client.get(f"/api/v1/studies/{STUDY}/subjects", headers=other).status_code == 403


def test_revoked_expired_and_made_up_tokens_are_401(web: Web) -> None:
    h = web.bearer("inv1")
    assert web.client.get("/api/v1/me", headers=h).status_code == 200
    assert web.client.delete("/api/v1/tokens/current", headers=h).status_code == 204
    assert web.client.get("/api/v1/me", headers=h).status_code == 401
    issued = web.client.post("/api/v1/tokens", json={"username": "inv1", "password": PASSWORD, "study_id": STUDY})
    fresh = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert web.client.get("/api/v1/me", headers=fresh).status_code == 200
    web.clock.advance(hours=12)
    assert web.client.get("/api/v1/me", headers=fresh).status_code == 401
    assert web.client.get("/api/v1/me", headers={"Authorization": "Bearer tt_made-up"}).status_code == 401
    assert web.client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401
    with web.db.read_session() as s:
        assert len(s.execute(select(ApiToken.token_hash)).scalars().first() or "") == 64
        events = set(s.execute(select(SecurityEvent.event).where(SecurityEvent.username == "inv1")).scalars())
    assert {"token_issued", "token_revoked"} <= events


def test_token_needs_the_right_password_and_a_known_study(web: Web) -> None:
    r = web.client.post("/api/v1/tokens", json={"username": "inv1", "password": "nope nope nope", "study_id": STUDY})
    assert r.status_code == 401
    r = web.client.post("/api/v1/tokens", json={"username": "inv1", "password": PASSWORD, "study_id": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["detail"]


def test_validation_errors_are_422_naming_the_field(web: Web) -> None:
    h = web.bearer("inv1")
    sid = web.subjects["CN-001"]["registered"]
    base = f"/api/v1/studies/{STUDY}/subjects/{sid}"
    cases = [
        ("post", f"{base}/consent", {"consent_date": "yesterday"}, ["body", "consent_date"]),
        ("post", f"{base}/consent", {"consent_date": "2025-03-01", "extra": 1}, ["body", "extra"]),
        ("post", "/api/v1/tokens", {"username": "x"}, ["body", "password"]),
        ("post", f"/api/v1/studies/{STUDY}/subjects", {}, ["body", "site"]),
        ("get", f"/api/v1/studies/{STUDY}/audit?limit=0", None, ["query", "limit"]),
    ]
    for method, url, body, loc in cases:
        r = web.client.request(
            method.upper(), url, json=body, headers=web.bearer("datamanager") if "audit" in url else h
        )
        assert r.status_code == 422, (url, r.text)
        assert loc in [e["loc"] for e in r.json()["detail"]], (url, r.json())


def test_bad_facts_name_the_fact_and_nothing_is_written(web: Web) -> None:
    h = web.bearer("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    url = f"/api/v1/studies/{STUDY}/subjects/{sid}/eligibility"
    r = web.client.put(url, json={"facts": {**facts_for(0), "age": "old"}, "reason": "fix"}, headers=h)
    assert r.status_code == 422
    assert any(e["loc"][-1] == "age" for e in r.json()["detail"]), r.json()
    r = web.client.post(f"/api/v1/studies/{STUDY}/eligibility/preview", json={"facts": {"age": -5}}, headers=h)
    assert r.status_code == 422 and any("age" in e["loc"] for e in r.json()["detail"])


def test_workflow_errors_are_409_and_unknown_subjects_404(web: Web) -> None:
    h = web.bearer("inv1")
    registered = web.subjects["CN-001"]["registered"]
    r = web.client.post(f"/api/v1/studies/{STUDY}/subjects/{registered}/randomization", headers=h)
    assert r.status_code == 409 and "consent" in r.json()["detail"]
    r = web.client.get(f"/api/v1/studies/{STUDY}/subjects/CN-001-S999", headers=h)
    assert r.status_code == 404
    other = web.client.get(f"/api/v1/studies/{STUDY}/subjects/{web.subjects['CN-002']['eligible']}", headers=h)
    assert other.status_code == 404  # another site's subject looks exactly like a missing one
    assert other.json()["detail"].replace(web.subjects["CN-002"]["eligible"], "X") == r.json()["detail"].replace(
        "CN-001-S999", "X"
    )


def test_audit_trail_has_no_write_methods(web: Web) -> None:
    h = web.bearer("datamanager")
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert web.client.request(method, f"/api/v1/studies/{STUDY}/audit", headers=h).status_code == 405


def test_audit_view_conceals_the_seed_list_and_password_hashes(web: Web) -> None:
    entries = web.client.get(f"/api/v1/studies/{STUDY}/audit?limit=1000", headers=web.bearer("monitor")).json()
    state = [e for e in entries if e["table"] == "randomization_state"]
    assert state and all(e["new"] == "[concealed]" for e in state)
    users = [e for e in entries if e["table"] == "users" and e["action"] == "create"]
    assert users and all(e["new"]["password_hash"] == "[concealed]" for e in users)
    ledger = [e for e in entries if e["table"] == "randomization_ledger"]
    assert ledger and all(
        e["new"]["state_after"] == "[concealed]" and e["new"]["block_size"] == "[concealed]" for e in ledger
    )


def test_five_retries_with_one_idempotency_key_make_one_allocation(web: Web) -> None:
    """G2: the same request retried 5 times with one Idempotency-Key gives one allocation, five equal answers."""
    h = {**web.bearer("inv1"), "Idempotency-Key": "c0ffee-1"}
    sid = web.subjects["CN-001"]["eligible"]
    url = f"/api/v1/studies/{STUDY}/subjects/{sid}/randomization"
    answers = [web.client.post(url, headers=h) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert len({a.text for a in answers}) == 1
    with web.db.read_session() as s:
        assert s.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 3  # 2 seeded + this one
    # without the key, a retry is refused (never a second allocation)
    assert web.client.post(url, headers=web.bearer("inv1")).status_code == 409
    # the key cannot be reused for another subject
    other = web.subjects["CN-001"]["registered"]
    r = web.client.post(f"/api/v1/studies/{STUDY}/subjects/{other}/randomization", headers=h)
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]


def test_server_timestamps_ignore_client_dates(web: Web) -> None:
    """A4: a forged Date header does not change the recorded time (the server clock does)."""
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects",
        json={"site": "CN-001"},
        headers={**web.bearer("inv1"), "Date": "Mon, 01 Jan 1990 00:00:00 GMT"},
    )
    assert dt.datetime.fromisoformat(r.json()["registered_at"]) == web.clock.now


def test_concurrent_retries_with_one_key_make_one_allocation(web: Web) -> None:
    """G2 under concurrency: 5 clients send the same randomization with one key at once (a client that timed
    out and retried while the first request was still running): 1 allocation, 5 identical answers."""
    from concurrent.futures import ThreadPoolExecutor

    h = {**web.bearer("inv2"), "Idempotency-Key": "race-1"}
    sid = web.subjects["CN-002"]["eligible"]
    url = f"/api/v1/studies/{STUDY}/subjects/{sid}/randomization"
    clients = [web.new_client() for _ in range(5)]
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda c: c.post(url, headers=h), clients))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    with web.db.read_session() as s:
        assert s.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 3


def test_token_reads_on_every_request_match_the_orm_reads(web: Web) -> None:
    """The one-statement read of a bearer request (``resolve_token_at``: token, user, roles and the subject's
    site) gives what the ORM reads give one by one (``identity_of``, ``subject_site``; the reference), for a
    user with several roles (one at a site, one at every site, one revoked) and a user with none."""
    with web.db.read_session() as s:
        admin = s.execute(select(User.id).where(User.username == "admin")).scalar_one()
    grant_role(web.db, "inv1", "monitor", study_id=STUDY, actor=admin, clock=web.clock)
    granted = grant_role(web.db, "inv1", "coordinator", study_id=STUDY, site="CN-002", actor=admin, clock=web.clock)
    revoke_role(web.db, granted, reason="test", actor=admin, clock=web.clock)
    subject = web.subjects["CN-002"]["eligible"]
    for username in ("inv1", "monitor", "statistician"):
        token = web.token(username)
        state, site = resolve_token_at(web.db, token, clock=web.clock, subject=(STUDY, subject))
        assert state is not None and site == subject_site(web.db, STUDY, subject) == "CN-002"
        with web.db.read_session() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one()
            assert state.identity == identity_of(s, user)
        assert resolve_token(web.db, token, clock=web.clock) == state
    roles = [(g.role, g.site) for g in state_of(web, "inv1").identity.roles]
    assert roles == [("investigator", "CN-001"), ("monitor", None)]
    _, missing = resolve_token_at(web.db, web.token("inv1"), clock=web.clock, subject=(STUDY, "CN-002-999"))
    assert isinstance(missing, RecordNotFound) and "CN-002-999" in str(missing)
    with web.db.read_session() as s:
        stat = s.execute(select(User.id).where(User.username == "statistician")).scalar_one()
        (assignment,) = s.execute(select(RoleAssignment.id).where(RoleAssignment.user_id == stat)).scalars()
    revoke_role(web.db, assignment, reason="test", actor=admin, clock=web.clock)
    bare = state_of(web, "statistician")
    assert bare.identity.roles == () and bare.identity.username == "statistician"
    assert resolve_token_at(web.db, "tt_made-up", clock=web.clock, subject=(STUDY, subject)) == (None, None)


def state_of(web: Web, username: str) -> TokenState:
    state = resolve_token(web.db, web.token(username), clock=web.clock)
    assert state is not None
    return state
