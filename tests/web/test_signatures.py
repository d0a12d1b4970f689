"""E-signatures (21 CFR 11.50, 11.70, 11.200(a)(1); trial-system-requirements C1-C3, C5, G18)."""

from __future__ import annotations

import datetime as dt

from _trial import facts_for
from _web import PASSWORD, STUDY, Web
from sqlalchemy import select

from trialtwin.services import UnitOfWork
from trialtwin.store.repositories import get_subject
from trialtwin.store.tables import AuditLog, User, Visit
from trialtwin.store.tables_access import SecurityEvent


def _url(sid: str) -> str:
    return f"/api/v1/studies/{STUDY}/subjects/{sid}/signatures"


def _user_id(web: Web, username: str) -> int:
    with web.db.read_session() as s:
        return int(s.execute(select(User.id).where(User.username == username)).scalar_one())


def test_first_signing_in_a_session_needs_user_id_and_password_then_password_only(web: Web) -> None:
    csrf = web.login("inv1")
    h = {"X-CSRF-Token": csrf}
    sid = web.subjects["CN-001"]["eligible"]
    r = web.client.post(_url(sid), json={"meaning": "review", "password": PASSWORD}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]
    r = web.client.post(_url(sid), json={"meaning": "review", "password": PASSWORD, "username": "inv1"}, headers=h)
    assert r.status_code == 201, r.text
    sig = r.json()
    assert sig["status"] == "valid" and sig["printed_name"] == "Inv1 Person" and sig["meaning"] == "review"
    assert sig["manifestation"] == f"Inv1 Person — {web.clock.now:%Y-%m-%d %H:%M:%S} UTC — review"
    # later in the same continuous session: the password alone is enough, and it is always required
    r = web.client.post(_url(sid), json={"meaning": "approval", "password": PASSWORD}, headers=h)
    assert r.status_code == 201, r.text
    r = web.client.post(_url(sid), json={"meaning": "approval"}, headers=h)
    assert r.status_code == 422 and ["body", "password"] in [e["loc"] for e in r.json()["detail"]]
    r = web.client.post(_url(sid), json={"meaning": "approval", "password": "wrong wrong wrong"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    # after the idle timeout the session is over: a new one needs both components again
    web.clock.advance(minutes=31)
    csrf = web.login("inv1")
    r = web.client.post(_url(sid), json={"meaning": "approval", "password": PASSWORD}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]


def test_outside_a_session_both_components_every_time(web: Web) -> None:
    h = web.bearer("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    for _ in range(2):
        assert (
            web.client.post(_url(sid), json={"meaning": "authorship", "password": PASSWORD}, headers=h).status_code
            == 422
        )
        r = web.client.post(
            _url(sid), json={"meaning": "authorship", "password": PASSWORD, "username": "inv1"}, headers=h
        )
        assert r.status_code == 201


def test_someone_elses_user_id_is_refused_and_failures_are_logged(web: Web) -> None:
    h = web.bearer("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    r = web.client.post(_url(sid), json={"meaning": "review", "password": PASSWORD, "username": "inv2"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]
    r = web.client.post(
        _url(sid), json={"meaning": "review", "password": "not my password", "username": "inv1"}, headers=h
    )
    assert r.status_code == 422
    with web.db.read_session() as s:
        events = list(s.execute(select(SecurityEvent.event).where(SecurityEvent.username == "inv1")).scalars())
    assert events.count("signature_failed") == 2


def test_only_investigators_at_the_subjects_site_sign(web: Web) -> None:
    sid = web.subjects["CN-001"]["eligible"]
    body = {"meaning": "review", "password": PASSWORD, "username": "coord1"}
    assert web.client.post(_url(sid), json=body, headers=web.bearer("coord1")).status_code == 403
    body["username"] = "inv2"
    assert web.client.post(_url(sid), json=body, headers=web.bearer("inv2")).status_code == 404


def test_a_later_change_breaks_the_casebook_signature_and_re_signing_fixes_it(web: Web) -> None:
    h = web.bearer("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    body = {"meaning": "approval", "password": PASSWORD, "username": "inv1"}
    assert web.client.post(_url(sid), json=body, headers=h).status_code == 201
    assert [s["status"] for s in web.client.get(_url(sid), headers=h).json()] == ["valid"]
    r = web.client.put(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/eligibility",
        json={"facts": facts_for(1, age=61), "reason": "age corrected from the ID card"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    listed = web.client.get(_url(sid), headers=web.bearer("monitor")).json()
    assert [s["status"] for s in listed] == ["broken"]
    assert listed[0]["manifestation"].startswith("Inv1 Person — ") and listed[0]["manifestation"].endswith("approval")
    assert web.client.post(_url(sid), json=body, headers=h).status_code == 201
    assert [s["status"] for s in web.client.get(_url(sid), headers=h).json()] == ["broken", "valid"]
    with web.db.read_session() as s:
        assert s.execute(select(AuditLog).where(AuditLog.table_name == "signatures")).first() is not None


def test_a_visit_signature_breaks_when_the_visit_changes(web: Web) -> None:
    h = web.bearer("inv1")
    sid = web.subjects["CN-001"]["randomized"]
    actor = _user_id(web, "inv1")
    with UnitOfWork(web.db, actor=actor, clock=web.clock) as uow:
        subject = get_subject(uow.session, STUDY, sid)
        visit = Visit(
            subject_id=subject.id,
            visit="C1D1",
            date=dt.date(2025, 3, 3),
            cycle=1,
            cycle_day=1,
            recorded_at=uow.now,
            recorded_by=actor,
        )
        uow.audit.create(visit)
        other = Visit(
            subject_id=subject.id,
            visit="C1D8",
            date=dt.date(2025, 3, 10),
            cycle=1,
            cycle_day=8,
            recorded_at=uow.now,
            recorded_by=actor,
        )
        uow.audit.create(other)
    body = {"meaning": "review", "password": PASSWORD, "username": "inv1", "scope": "visit", "visit_id": visit.id}
    r = web.client.post(_url(sid), json=body, headers=h)
    assert r.status_code == 201 and r.json()["scope"] == "visit" and r.json()["visit_id"] == visit.id
    casebook = {"meaning": "review", "password": PASSWORD, "username": "inv1"}
    assert web.client.post(_url(sid), json=casebook, headers=h).status_code == 201
    with UnitOfWork(web.db, actor=actor, clock=web.clock) as uow:
        row = uow.session.get(Visit, other.id)
        assert row is not None
        uow.audit.update(row, {"date": dt.date(2025, 3, 11)}, reason="date typo")
    statuses = {(s["scope"]): s["status"] for s in web.client.get(_url(sid), headers=h).json()}
    assert statuses == {"visit": "valid", "casebook": "broken"}  # another visit changed: casebook only
    with UnitOfWork(web.db, actor=actor, clock=web.clock) as uow:
        row = uow.session.get(Visit, visit.id)
        assert row is not None
        uow.audit.update(row, {"date": dt.date(2025, 3, 4)}, reason="date typo")
    statuses = {(s["scope"]): s["status"] for s in web.client.get(_url(sid), headers=h).json()}
    assert statuses == {"visit": "broken", "casebook": "broken"}
    bad = {**body, "visit_id": 999999}
    r = web.client.post(_url(sid), json=bad, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "visit_id"]
