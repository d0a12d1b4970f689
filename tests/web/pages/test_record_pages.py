"""The stored record on the pages: the overview lists dosing visits (dose decision), RECIST responses per reader,
adverse events, disposition and death; Post/Redirect/Get on the clinical forms (a reload never records twice);
the JSON read route of the record; the eligibility form pre-filled from the saved facts; the corrections page
(21 CFR 11.10(e): reason required, old → new kept); the audit view names users; a client that disconnects
mid-request is not an application error.

References: Trodelvy USPI 2.3 Table 1 / Halaven USPI 2.2: the dose is withheld at ANC 0.8 × 10⁹/L and given at
2.0 with platelets 200 × 10⁹/L; RECIST 1.1 (Eisenhauer 2009) §4.3.1: 60 → 37 mm is -38.3 %, a partial response;
RFC 9110 §15.4.4: 303 See Other makes the browser GET the result page.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _pages import Browser, form_values, record_visit, subject_url
from _trial import facts_for
from _web import STUDY, Web


def _sid(web: Web) -> str:
    return web.subjects["CN-001"]["randomized"]


def _scan(b: Browser, sid: str, date: str, t1: str, t2: str) -> Any:
    data = {
        "assessment_date": date,
        "reader": "investigator",
        "t0_id": "T1",
        "t0_organ": "liver",
        "t0_diameter": t1,
        "t1_id": "T2",
        "t1_organ": "lung",
        "t1_diameter": t2,
    }
    return b.post(subject_url(sid) + "/assessments", data)


def _record(web: Web, sid: str, username: str = "inv1") -> dict[str, Any]:
    r = web.client.get(f"/api/v1/studies/{STUDY}/subjects/{sid}/record", headers=web.bearer(username))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_overview_lists_visits_responses_events_and_disposition(
    browser: Callable[[str], Browser], web: Web
) -> None:
    web.clock.advance(days=42)  # 2025-04-14: the week-6 scan is not in the future
    b = browser("inv1")
    sid = _sid(web)
    url = subject_url(sid)
    record_visit(b, sid, lab_anc="0.8", lab_platelets="200")
    assert _scan(b, sid, "2025-02-27", "40", "20").status_code == 303
    assert _scan(b, sid, "2025-04-11", "25", "12").status_code == 303
    assert b.post(url + "/adverse-events", {"term": "Diarrhea", "grade": "3", "onset": "2025-03-02"}).status_code == 303
    assert b.post(url + "/end-of-treatment", {"eot_date": "2025-04-12", "reason": "progression"}).status_code == 303
    assert b.post(url + "/death", {"death_date": "2025-04-13", "cause": "progressive_disease"}).status_code == 303
    page = b.get(url).text
    visits = re.search(r'<table id="visits">.*?</table>', page, re.S)
    assert visits is not None and '<span class="badge hold decision">hold</span>' in visits.group(0)
    assert "anc 0.8 (3)" in visits.group(0)  # the lab with its CTCAE grade (0.8 < 1.0: grade 3)
    scans = re.search(r'<table class="assessments" data-reader="investigator">.*?</table>', page, re.S)
    assert scans is not None
    assert re.search(r'<span class="badge PR">PR</span>', scans.group(0))
    assert '<td class="num pct">-38.3 %</td>' in scans.group(0)
    assert re.search(r"<td>Diarrhea</td><td class=\"num\">3</td><td class=\"nowrap\">2025-03-02</td>", page)
    assert re.search(r'data-event="end_of_treatment">2025-04-12 · progression', page)
    assert re.search(r'id="death">2025-04-13 · progressive disease<', page)


def test_a_reload_after_recording_an_adverse_event_records_nothing(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = _sid(web)
    r = b.post(subject_url(sid) + "/adverse-events", {"term": "Nausea", "grade": "1", "onset": "2025-03-02"})
    assert r.status_code == 303
    target = r.headers["location"]
    assert re.fullmatch(rf"/studies/{STUDY}/subjects/{sid}/adverse-events/new\?recorded=\d+", target)
    for _ in range(2):  # the browser's reload repeats the GET, not the POST
        page = b.get(target)
        assert page.status_code == 200 and re.search(r'id="ae-term">Nausea<', page.text)
    assert [e["term"] for e in _record(web, sid)["adverse_events"]] == ["Nausea"]


def test_visit_scan_and_baseline_forms_redirect_to_their_stored_result(
    browser: Callable[[str], Browser], web: Web
) -> None:
    web.clock.advance(days=42)
    b = browser("coord1")
    sid = _sid(web)
    url = subject_url(sid)
    r = b.post(url + "/baseline", {"baseline_weight_kg": "65", "height_cm": "165", "ecog": "1"})
    assert r.status_code == 303 and r.headers["location"].endswith("/visits/new")
    form = b.get(r.headers["location"]).text
    assert 'id="baseline-saved">Baseline recorded.<' in form and "165.0 cm" in form
    data = {"cycle": "1", "day": "1", "visit_date": "2025-03-03", "weight_kg": "65", "lab_anc": "2.0"}
    data["lab_platelets"] = "200"
    if 'name="regimen"' in form:
        data["regimen"] = "eribulin"
    r = b.post(url + "/visits", data)
    assert r.status_code == 303 and "/visits/result?visit_id=" in r.headers["location"]
    for _ in range(2):
        page = b.get(r.headers["location"]).text
        assert re.search(r'id="dose-action">give<', page)
    assert len(_record(web, sid)["visits"]) == 1
    assert _scan(b, sid, "2025-02-27", "40", "20").status_code == 303
    r = _scan(b, sid, "2025-04-11", "25", "12")
    assert r.status_code == 303 and r.headers["location"].endswith(
        "/assessments/result?reader=investigator&date=2025-04-11"
    )
    page = b.get(r.headers["location"]).text
    assert re.search(r'id="recist-overall">PR<', page) and re.search(r'id="recist-pct">-38.3 %<', page)
    assert re.search(r"<dt>Nadir</dt><dd>60.0 mm</dd>", page)
    # a result that does not exist, or no result named
    assert b.get(url + "/visits/result?visit_id=999999").status_code == 404
    assert b.get(url + "/visits/result").status_code == 422
    assert b.get(url + "/assessments/result?reader=BICR&date=2025-04-11").status_code == 404
    assert b.get(url + "/assessments/result?reader=investigator&date=soon").status_code == 422


def test_the_record_api_is_site_scoped(web: Web) -> None:
    sid = _sid(web)
    body = _record(web, sid)
    assert body["screening_id"] == sid and body["randomized_on"] == "2025-03-01"
    assert set(body) >= {"visits", "administrations", "labs", "assessments", "adverse_events", "disposition", "death"}
    other = web.subjects["CN-002"]["randomized"]
    path = f"/api/v1/studies/{STUDY}/subjects/{other}/record"
    assert web.client.get(path, headers=web.bearer("inv1")).status_code == 404
    assert web.client.get(path, headers=web.bearer("statistician")).status_code == 403
    assert web.client.get(path, headers=web.bearer("monitor")).status_code == 200


def test_the_eligibility_form_starts_from_the_latest_saved_facts(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    url = subject_url(sid) + "/eligibility"
    corrected = form_values(facts_for(1, age=63))
    assert b.post(url, {**corrected, "reason": "age misread from the chart"}).status_code == 303
    form = b.get(url).text
    assert re.search(r'<input id="f-age" name="age"[^>]*value="63(\.0)?"', form)


def test_a_lab_correction_shows_old_and_new_and_needs_a_reason(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = _sid(web)
    url = subject_url(sid)
    record_visit(b, sid, lab_anc="2.0", lab_platelets="200")
    lab = next(x for x in _record(web, sid)["labs"] if x["test"] == "anc")
    form = b.get(url + "/corrections")
    assert form.status_code == 200 and f'value="labs:{lab["id"]}"' in form.text
    assert 'id="correct-link"' in b.get(url).text
    data = {"record": f"labs:{lab['id']}", "field": "value", "value": "0.8"}
    r = b.post(url + "/corrections", data)
    assert r.status_code == 422 and 'id="err-reason"' in r.text  # nothing without a reason
    r = b.post(url + "/corrections", {**data, "value": "lots", "reason": "typo"})
    assert r.status_code == 422 and 'id="err-value"' in r.text
    r = b.post(url + "/corrections", {**data, "field": "grade", "reason": "typo"})
    assert r.status_code == 422 and 'id="err-field"' in r.text
    assert next(x for x in _record(web, sid)["labs"] if x["test"] == "anc")["value"] == 2.0  # unchanged
    r = b.post(url + "/corrections", {**data, "reason": "transcribed from the wrong sample"})
    assert r.status_code == 303
    page = b.get(r.headers["location"]).text
    assert re.search(r'id="old-value">2.0<', page) and re.search(r'id="new-value">0.8<', page)
    assert "transcribed from the wrong sample" in page and "Inv1 Person" in page
    stored = next(x for x in _record(web, sid)["labs"] if x["test"] == "anc")
    assert (stored["value"], stored["grade"]) == (0.8, 3)  # re-graded (CTCAE v5.0: < 1.0 is grade 3)


def test_only_site_staff_correct(browser: Callable[[str], Browser], web: Web) -> None:
    url = subject_url(_sid(web)) + "/corrections"
    assert browser("monitor").get(url).status_code == 403
    assert browser("inv2").get(url).status_code == 404
    assert 'id="correct-link"' not in browser("monitor").get(subject_url(_sid(web))).text


def test_the_audit_view_names_the_users(browser: Callable[[str], Browser], web: Web) -> None:
    sid = _sid(web)
    page = browser("monitor").get(subject_url(sid) + "/audit").text
    assert re.search(r'<td class="user" data-user-id="\d+">Inv1 Person</td>', page)
    r = web.client.get(f"/api/v1/studies/{STUDY}/audit?subject={sid}", headers=web.bearer("monitor"))
    entries = r.json()
    assert r.status_code == 200 and all({"user_id", "user_name"} <= set(e) for e in entries)
    assert "Inv1 Person" in {e["user_name"] for e in entries}


def test_a_client_that_disconnects_while_posting_is_not_an_application_error(
    browser: Callable[[str], Browser], web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    """The body never arrives (tab closed, reload mid-post): starlette raises ClientDisconnect while reading
    the form; the app answers quietly instead of raising (uvicorn logs "Exception in ASGI application" for
    an exception that escapes the app)."""
    b = browser("inv1")
    cookies = "; ".join(f"{k}={v}" for k, v in b.client.cookies.items())
    path = subject_url(_sid(web)) + "/adverse-events"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"100"),
            (b"cookie", cookies.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # In its own thread: the browser tests' session-scoped Playwright keeps an event loop running in this one.
    with caplog.at_level(logging.DEBUG), ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, web.app(scope, receive, send)).result()  # raises if the exception escapes the app
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert _record(web, _sid(web))["adverse_events"] == []
