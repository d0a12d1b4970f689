"""Redaction over HTTP: ``POST /api/v1/studies/{s}/subjects/{id}/redactions`` and the subject's redaction page
(``services.redaction``; requirement A5: "rare redactions are themselves logged with a justification";
EMA/INS/GCP/112288/2023 §6; ICH E6(R3) 4.2.2).

The policy is the corrections' (``record.correct``: site staff at the subject's site; B2, B3): a monitor gets
403, staff of another site the same 404 as an unknown subject. User errors are 422 naming the field (a field
that is not redactable, an empty justification) or 404 for a record the subject does not have; a refusal
writes nothing. A redaction is one new audit entry with the justification; the earlier entries read
``[redacted]`` through the API, and the chain still verifies.
"""

from __future__ import annotations

import json
import re
from typing import Any

from _web import PASSWORD, STUDY, Web
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from trialtwin.store.audit import verify_chain
from trialtwin.store.tables import AuditLog

PII = "nausea - told by daughter Jane Doe, phone 555-0100"
WHY = "relative's name and phone typed into the AE term by mistake (site query 17)"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def _subject(web: Web, site: str = "CN-001") -> str:
    return web.subjects[site]["randomized"]


def _base(sid: str) -> str:
    return f"/api/v1/studies/{STUDY}/subjects/{sid}"


def _adverse_event(web: Web, sid: str, username: str = "inv1") -> int:
    r = web.client.post(
        _base(sid) + "/adverse-events",
        json={"term": PII, "onset": "2025-03-02", "grade": 1},
        headers=web.bearer(username),
    )
    assert r.status_code == 201, r.text
    record = web.client.get(_base(sid) + "/record", headers=web.bearer(username)).json()
    (event,) = [e for e in record["adverse_events"] if e["term"] == PII]
    return int(event["id"])


def _audit_count(web: Web) -> int:
    with web.db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(AuditLog)).scalar_one())


def _redact(web: Web, sid: str, body: dict[str, Any], username: str = "inv1") -> Any:
    return web.client.post(_base(sid) + "/redactions", json=body, headers=web.bearer(username))


def test_a_redaction_replaces_the_value_and_is_one_new_justified_entry(web: Web) -> None:
    sid = _subject(web)
    ae = _adverse_event(web, sid)
    before = _audit_count(web)
    body = {"table": "adverse_events", "record_id": ae, "field": "term", "justification": WHY, "replacement": "Nausea"}
    r = _redact(web, sid, body, "coord1")  # any site staff of the subject's site (record.correct)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "table": "adverse_events",
        "record_id": ae,
        "field": "term",
        "replacement": "Nausea",
        "justification": WHY,
    }
    assert _audit_count(web) == before + 1
    with web.db.read_session() as s:
        last = s.execute(select(AuditLog).order_by(AuditLog.seq.desc()).limit(1)).scalar_one()
        assert verify_chain(s).ok
    assert (last.action, last.table_name, last.record_id, last.reason) == (
        "update",
        "adverse_events",
        str(ae),
        f"redaction: {WHY}",
    )
    assert json.loads(last.old_value or "null") == {"term": "[redacted]"}
    # the record shows the clean text; the subject's audit trail no longer shows the mistaken value
    record = web.client.get(_base(sid) + "/record", headers=web.bearer("monitor")).json()
    assert [e["term"] for e in record["adverse_events"] if e["id"] == ae] == ["Nausea"]
    trail = web.client.get(f"/api/v1/studies/{STUDY}/audit", params={"subject": sid}, headers=web.bearer("monitor"))
    assert trail.status_code == 200 and "Jane Doe" not in trail.text
    (created,) = [
        e for e in trail.json() if (e["table"], e["record_id"], e["action"]) == ("adverse_events", str(ae), "create")
    ]
    assert created["new"]["term"] == "[redacted]"  # the earlier entry, masked when read
    assert created["redacted"] is True  # and the API says so
    assert not any(e["redacted"] for e in trail.json() if e["table"] != "adverse_events" or e["record_id"] != str(ae))


def test_without_replacement_the_value_reads_redacted(web: Web) -> None:
    sid = _subject(web)
    ae = _adverse_event(web, sid)
    r = _redact(web, sid, {"table": "adverse_events", "record_id": ae, "field": "term", "justification": WHY})
    assert r.status_code == 200 and r.json()["replacement"] == "[redacted]"


def test_refusals_name_the_field_or_are_404_and_write_nothing(web: Web) -> None:
    sid = _subject(web)
    ae = _adverse_event(web, sid)
    other_ae = _adverse_event(web, _subject(web, "CN-002"), "inv2")
    before = _audit_count(web)
    good = {"table": "adverse_events", "record_id": ae, "field": "term", "justification": WHY}
    cases: list[tuple[dict[str, Any], int, list[str] | None]] = [
        ({**good, "field": "grade"}, 422, ["body", "field"]),  # not a free-text field (REDACTABLE)
        ({**good, "table": "labs"}, 422, ["body", "table"]),  # a table without redactable fields
        ({**good, "justification": "   "}, 422, ["body", "justification"]),
        ({**good, "justification": ""}, 422, ["body", "justification"]),
        ({k: v for k, v in good.items() if k != "justification"}, 422, ["body", "justification"]),
        ({**good, "replacement": ""}, 422, ["body", "replacement"]),
        ({**good, "record_id": ae + 1000}, 404, None),  # no such record
    ]
    for body, status, loc in cases:
        r = _redact(web, sid, body)
        assert r.status_code == status, (body, r.text)
        if loc is not None:
            assert r.json()["detail"][0]["loc"] == loc, r.text
        else:
            assert f"has no adverse_events record {ae + 1000}" in r.json()["detail"]
    # another subject's record, named through this subject: 404 as well
    assert _redact(web, sid, {**good, "record_id": other_ae}).status_code == 404
    assert _audit_count(web) == before  # no refusal wrote anything...
    with web.db.read_session() as s:
        reasons = [r for (r,) in s.execute(select(AuditLog.reason)) if r and r.startswith("redaction:")]
    assert reasons == []  # ...and no redaction entry


def test_the_policy_is_the_corrections_policy(web: Web) -> None:
    sid = _subject(web)
    ae = _adverse_event(web, sid)
    body = {"table": "adverse_events", "record_id": ae, "field": "term", "justification": WHY}
    correction = {"table": "adverse_events", "record_id": ae, "changes": {"term": "Nausea"}, "reason": "typo"}
    for username, status in [("monitor", 403), ("datamanager", 403), ("inv2", 404), ("coord2", 404)]:
        r = _redact(web, sid, body, username)
        c = web.client.post(_base(sid) + "/corrections", json=correction, headers=web.bearer(username))
        assert r.status_code == c.status_code == status, (username, r.text, c.text)
        if status == 404:  # the same answer as for a subject that does not exist
            assert r.json() == c.json()
    assert web.new_client().post(_base(sid) + "/redactions", json=body).status_code == 401
    browser = web.new_client()
    assert browser.post("/api/v1/session", json={"username": "inv1", "password": PASSWORD}).status_code == 200
    r = browser.post(_base(sid) + "/redactions", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]


# ---- page ------------------------------------------------------------------------------------------------------


def _browser(web: Web, username: str) -> TestClient:
    client = web.new_client(follow_redirects=False)
    assert client.post("/api/v1/session", json={"username": username, "password": PASSWORD}).status_code == 200
    return client


def test_the_page_redacts_with_a_justification_and_lists_the_redactions(web: Web) -> None:
    sid = _subject(web)
    ae = _adverse_event(web, sid)
    b = _browser(web, "inv1")
    page_url = f"/studies/{STUDY}/subjects/{sid}/redactions"
    corrections = b.get(f"/studies/{STUDY}/subjects/{sid}/corrections")
    assert corrections.status_code == 200 and f'href="{page_url}"' in corrections.text
    page = b.get(page_url)
    assert page.status_code == 200 and f'value="adverse_events:{ae}:term"' in page.text
    csrf = CSRF_META.search(page.text)
    assert csrf is not None
    value = f"adverse_events:{ae}:term"
    r = b.post(page_url, data={"csrf_token": csrf.group(1), "value": value, "justification": ""})
    assert r.status_code == 422 and 'id="err-justification"' in r.text
    r = b.post(page_url, data={"csrf_token": csrf.group(1), "value": "labs:1:value", "justification": WHY})
    assert r.status_code == 422 and 'id="err-value"' in r.text
    r = b.post(page_url, data={"csrf_token": csrf.group(1), "value": value, "justification": WHY})
    assert r.status_code == 303 and r.headers["location"] == page_url + "?redacted=1"
    done = b.get(r.headers["location"])
    assert done.status_code == 200 and 'id="redaction-saved"' in done.text
    assert "Jane Doe" not in done.text and WHY.replace("'", "&#39;") in done.text
    assert b.get(page_url.replace(sid, _subject(web, "CN-002"))).status_code == 404  # other site
    assert _browser(web, "monitor").get(page_url).status_code == 403
