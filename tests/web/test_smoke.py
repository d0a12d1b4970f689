"""Smoke: health without login, login with a session, a token, the workflow through the API."""

from __future__ import annotations

from _web import STUDY, Web


def test_health_needs_no_login(web: Web) -> None:
    r = web.client.get("/api/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_register_consent_eligibility_randomize_through_the_api(web: Web) -> None:
    from _trial import facts_for

    h = web.bearer("inv1")
    r = web.client.post(f"/api/v1/studies/{STUDY}/subjects", json={"site": "CN-001"}, headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["screening_id"]
    assert sid.startswith("CN-001-S")
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/consent", json={"consent_date": "2025-03-01"}, headers=h
    )
    assert r.status_code == 200 and r.json()["status"] == "consented", r.text
    r = web.client.put(f"/api/v1/studies/{STUDY}/subjects/{sid}/eligibility", json={"facts": facts_for(0)}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "eligible", r.text
    r = web.client.post(f"/api/v1/studies/{STUDY}/subjects/{sid}/randomization", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["arm"] and r.json()["subject_number"].startswith("CN-001-")
