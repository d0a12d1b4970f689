"""IRT routes (trial-system-requirements E7, E9, E2/G5): invalidation by a data manager, reconciliation of a
manual allocation by site staff, and no route that shows the list or its hash."""

from __future__ import annotations

import datetime as dt

from _web import STUDY, Web

from trialtwin.protocol import load_protocol
from trialtwin.store.randomization_list import study_list
from trialtwin.web.policy import walk_routes

SEED = 2020  # the seed tests/web/_web.py loads the study with
API = f"/api/v1/studies/{STUDY}/subjects"


def test_data_manager_invalidates_once_with_a_reason_and_site_staff_cannot(web: Web) -> None:
    sid = web.subjects["CN-001"]["randomized"]
    url = f"{API}/{sid}/randomization/invalidation"
    before = web.client.get(f"{API}/{sid}/randomization", headers=web.bearer("inv1")).json()
    assert web.client.post(url, json={"reason": "wrong subject"}, headers=web.bearer("inv1")).status_code == 403
    empty = web.client.post(url, json={"reason": ""}, headers=web.bearer("datamanager"))
    assert empty.status_code == 422 and "reason" in empty.text
    blank = web.client.post(url, json={"reason": "   "}, headers=web.bearer("datamanager"))
    assert blank.status_code == 422 and "reason" in blank.text
    ok = web.client.post(url, json={"reason": "wrong subject"}, headers=web.bearer("datamanager"))
    assert ok.status_code == 201, ok.text
    assert (ok.json()["sequence"], ok.json()["reason"]) == (before["sequence"], "wrong subject")
    again = web.client.post(url, json={"reason": "again"}, headers=web.bearer("datamanager"))
    assert again.status_code == 409 and "invalidated already" in again.text
    after = web.client.get(f"{API}/{sid}/randomization", headers=web.bearer("inv1")).json()
    assert after == before  # the allocation itself never changes (E7)
    not_randomized = web.client.post(
        f"{API}/{web.subjects['CN-001']['eligible']}/randomization/invalidation",
        json={"reason": "x"},
        headers=web.bearer("datamanager"),
    )
    assert not_randomized.status_code == 409


def test_site_reconciles_a_manual_allocation_with_the_slot_arm(web: Web) -> None:
    done = web.client.get(f"{API}/{web.subjects['CN-001']['randomized']}/randomization", headers=web.bearer("inv1"))
    stratum = done.json()["stratum"]  # the eligible subject of CN-001 has the same facts: same stratum, slot 2
    listing = study_list(load_protocol(STUDY), SEED)
    assert listing is not None
    arm = listing.slot(stratum, 2).arm
    wrong = next(a for a in listing.list.arms if a != arm)
    sid = web.subjects["CN-001"]["eligible"]
    url = f"{API}/{sid}/randomization/manual"
    body = {"arm": arm, "emergency_ref": "EL-0002", "allocated_at": "2025-03-02T03:00:00+00:00"}
    naive = web.client.post(url, json=body | {"allocated_at": "2025-03-02T03:00:00"}, headers=web.bearer("inv1"))
    assert naive.status_code == 422 and "allocated_at" in naive.text
    unknown = web.client.post(url, json=body | {"arm": "placebo"}, headers=web.bearer("inv1"))
    assert unknown.status_code == 422 and "arm" in unknown.text
    mismatch = web.client.post(url, json=body | {"arm": wrong}, headers=web.bearer("inv1"))
    assert mismatch.status_code == 409 and "(position 2)" in mismatch.text
    assert web.client.get(f"{API}/{sid}/randomization", headers=web.bearer("inv1")).json() is None
    assert web.client.post(url, json=body, headers=web.bearer("datamanager")).status_code == 403
    ok = web.client.post(url, json=body, headers=web.bearer("inv1"))
    assert ok.status_code == 201, ok.text
    data = ok.json()
    assert (data["source"], data["emergency_ref"], data["allocation"]["arm"]) == ("manual", "EL-0002", arm)
    assert (data["allocation"]["stratum"], data["allocation"]["stratum_sequence"]) == (stratum, 2)
    assert dt.datetime.fromisoformat(data["allocated_at"]) == dt.datetime(2025, 3, 2, 3, 0, tzinfo=dt.UTC)


def test_no_route_shows_the_randomization_list_or_its_hash(web: Web) -> None:
    """E2/G5: the list and its SHA-256 are for the statistician's CLI only."""
    paths = [e.path for e in walk_routes(web.app)]
    assert not [p for p in paths if "hash" in p or "randomization/list" in p or "randomization-list" in p]
    assert "recorded_sha256" not in str(web.app.openapi())
    for user in ("inv1", "coord1"):
        sid = web.subjects["CN-001"]["randomized"]
        r = web.client.get(f"/api/v1/studies/{STUDY}/audit?subject={sid}", headers=web.bearer(user))
        assert r.status_code == 200 and "randomization_ledger" in r.text  # the subject's own trail is shown
        assert "randomization list generated" not in r.text and "randomization_lists" not in r.text
        assert web.client.get(f"/api/v1/studies/{STUDY}/audit", headers=web.bearer(user)).status_code == 403


def test_admin_adds_a_site_inactive_and_activates_it_after_approval(web: Web) -> None:
    """D3: a new site registers no one until activated with its approval; only the administrator manages sites."""
    admin = web.bearer("admin")
    body = {"code": "CN-099", "facility": "New Hospital", "city": "Xi'an", "country": "China"}
    assert web.client.post(f"/api/v1/studies/{STUDY}/sites", json=body, headers=web.bearer("inv1")).status_code == 403
    added = web.client.post(f"/api/v1/studies/{STUDY}/sites", json=body, headers=admin)
    assert added.status_code == 201, added.text
    assert added.json()["active"] is False
    again = web.client.post(f"/api/v1/studies/{STUDY}/sites", json=body, headers=admin)
    assert again.status_code == 409
    bad = web.client.post(f"/api/v1/studies/{STUDY}/sites", json=body | {"code": "a b"}, headers=admin)
    assert bad.status_code == 422 and "code" in bad.text
    sites = web.client.get(f"/api/v1/studies/{STUDY}/sites", headers=admin).json()
    assert {s["code"]: s["active"] for s in sites}["CN-099"] is False
    url = f"/api/v1/studies/{STUDY}/sites/CN-099/activation"
    future = web.client.post(url, json={"approval_ref": "EC-1", "approved_on": "2999-01-01"}, headers=admin)
    assert future.status_code == 422 and "approved_on" in future.text
    missing = web.client.post(
        f"/api/v1/studies/{STUDY}/sites/CN-404/activation",
        json={"approval_ref": "EC-1", "approved_on": "2025-01-02"},
        headers=admin,
    )
    assert missing.status_code == 404
    ok = web.client.post(url, json={"approval_ref": "EC-2025-017", "approved_on": "2025-01-02"}, headers=admin)
    assert ok.status_code == 200, ok.text
    assert (ok.json()["active"], ok.json()["approval_ref"], ok.json()["approved_on"]) == (
        True,
        "EC-2025-017",
        "2025-01-02",
    )
    twice = web.client.post(url, json={"approval_ref": "EC-3", "approved_on": "2025-01-02"}, headers=admin)
    assert twice.status_code == 409 and "active already" in twice.text
