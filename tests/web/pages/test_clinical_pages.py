"""Dosing visit → dose decision, tumour assessment → RECIST 1.1 response, adverse event, end of treatment, death
(issue 7 items 2 and 5; bad input 422 naming the field, item 9; XSS rendered inert, requirement G12).

References: RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247) §4.3.1: partial response is a ≥ 30 %
decrease of the sum of diameters from baseline; progression includes any unequivocal new lesion (§4.3.2).
Dose holds: sacituzumab govitecan is withheld when the ANC is below 1500/mm³ on day 1 of a cycle (Trodelvy USPI
2.3, Table 1) and eribulin below 1000/mm³ (Halaven USPI 2.2), so both are held at 0.8 × 10⁹/L and given at
ANC 2.0 and platelets 200 × 10⁹/L.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from _pages import Browser, record_visit, subject_url, visit_form
from _web import Web

XSS = '<img src=x onerror=alert(1)><script>alert("xss")</script>'


def _randomized(web: Web) -> str:
    return web.subjects["CN-001"]["randomized"]


def _dose(b: Browser, sid: str, **labs: str) -> str:
    return record_visit(b, sid, **labs).text


def test_dosing_visit_shows_the_engines_decision(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("coord1")
    page = _dose(b, _randomized(web), lab_anc="2.0", lab_platelets="200")
    action = re.search(r'id="dose-action">([^<]+)<', page)
    assert action is not None and action.group(1) == "give", page[-2000:]
    assert re.search(r'id="dose-amount">[\d.]+ mg/(kg|m2)<', page)
    assert "CTCAE grade" in page  # the labs with their grades


def test_low_neutrophils_hold_the_dose(browser: Callable[[str], Browser], web: Web) -> None:
    page = _dose(browser("inv1"), _randomized(web), lab_anc="0.8", lab_platelets="200")
    action = re.search(r'id="dose-action">([^<]+)<', page)
    assert action is not None and action.group(1) == "hold"
    reason = re.search(r'id="dose-reason">([^<]+)<', page)
    assert reason is not None and "anc" in reason.group(1).lower()


def test_visit_bad_values_name_the_field(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_randomized(web))
    r = b.post(url + "/visits", {"cycle": "1", "day": "1", "visit_date": "2025-03-03", "weight_kg": "heavy"})
    assert r.status_code == 422 and 'id="err-weight_kg"' in r.text
    r = b.post(url + "/visits", {"cycle": "0", "day": "1", "visit_date": "2025-03-03", "weight_kg": "60"})
    assert r.status_code == 422 and 'id="err-cycle"' in r.text
    r = b.post(
        url + "/visits", {"cycle": "1", "day": "1", "visit_date": "2025-03-03", "weight_kg": "60", "lab_anc": "x"}
    )
    assert r.status_code == 422 and 'id="err-lab_anc"' in r.text
    r = b.post(url + "/visits", {"cycle": "1", "day": "1", "visit_date": "2025-03-09", "weight_kg": "60"})
    assert r.status_code == 422 and 'id="err-visit_date"' in r.text and "in the future" in r.text
    r = b.post(url + "/baseline", {"baseline_weight_kg": "65", "height_cm": "20", "ecog": "1"})
    assert r.status_code == 422 and 'id="err-height_cm"' in r.text


def test_visit_before_randomization_is_refused(browser: Callable[[str], Browser], web: Web) -> None:
    sid = web.subjects["CN-001"]["eligible"]
    r = browser("inv1").post(
        subject_url(sid) + "/visits", {"cycle": "1", "day": "1", "visit_date": "2025-03-03", "weight_kg": "60"}
    )
    assert r.status_code == 409 and "not randomized" in r.text


def _scan(b: Browser, sid: str, date: str, t1: str, t2: str, **extra: str) -> str:
    data = {
        "assessment_date": date,
        "reader": "investigator",
        "t0_id": "T1",
        "t0_organ": "liver",
        "t0_diameter": t1,
        "t1_id": "T2",
        "t1_organ": "lung",
        "t1_diameter": t2,
        "n0_id": "N1",
        "n0_organ": "bone",
        "n0_status": "present",
        **extra,
    }
    r = b.submit(subject_url(sid) + "/assessments", data)
    assert r.status_code == 200, r.text[-3000:]
    return r.text


def test_scans_give_the_recist_response(browser: Callable[[str], Browser], web: Web) -> None:
    web.clock.advance(days=42)  # to 2025-04-14; the session starts after the clock moved
    b = browser("inv1")
    sid = _randomized(web)
    page = _scan(b, sid, "2025-02-27", "40", "20")
    assert re.search(r'id="recist-overall">Baseline recorded<', page)
    assert re.search(r'id="recist-sum">60.0 mm<', page)
    form = b.get(subject_url(sid) + "/assessments/new").text
    assert 'value="T1"' in form and 'value="liver"' in form  # follow-up rows start with the baseline's lesions
    page = _scan(b, sid, "2025-04-11", "25", "12")  # 37 mm: -38.3 % from 60 mm
    assert re.search(r'id="recist-overall">PR<', page)
    assert re.search(r'id="recist-pct">-38.3 %<', page)
    page = _scan(b, sid, "2025-04-13", "25", "12", x0_id="NEW1", x0_organ="brain")
    assert re.search(r'id="recist-overall">PD<', page)
    overview = b.get(subject_url(sid)).text
    rows = re.findall(
        r"<tr>\s*<td class=\"nowrap\">(2025-\d\d-\d\d)[^<]*(?:<span[^>]*>baseline</span>)?</td>.*?<td>(yes|no)</td>",
        overview,
        re.S,
    )
    assert rows == [("2025-02-27", "no"), ("2025-04-11", "no"), ("2025-04-13", "yes")]


def test_scan_bad_input_names_the_row_field(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_randomized(web)) + "/assessments"
    r = b.post(
        url,
        {
            "assessment_date": "2025-03-01",
            "reader": "investigator",
            "t2_id": "T1",
            "t2_organ": "liver",
            "t2_diameter": "-4",
        },
    )
    assert r.status_code == 422 and 'id="err-t2_diameter"' in r.text
    r = b.post(
        url,
        {"assessment_date": "2025-03-01", "reader": "nobody", "t0_id": "T1", "t0_organ": "liver", "t0_diameter": "10"},
    )
    assert r.status_code == 422 and 'id="err-reader"' in r.text
    r = b.post(url, {"assessment_date": "2025-03-01", "reader": "investigator", "t3_id": "T1", "t3_diameter": "10"})
    assert r.status_code == 422 and 'id="err-t3_organ"' in r.text
    r = b.post(url, {"assessment_date": "2025-03-01", "reader": "investigator"})
    assert r.status_code == 422 and "at least one target or non-target lesion" in r.text


def test_adverse_event_term_is_rendered_inert(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = _randomized(web)
    r = b.submit(subject_url(sid) + "/adverse-events", {"term": XSS, "grade": "2", "onset": "2025-03-02"})
    assert r.status_code == 200
    assert XSS not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in r.text
    audit = b.get(subject_url(sid) + "/audit")
    assert audit.status_code == 200
    assert XSS not in audit.text and "&lt;script&gt;" in audit.text


def test_adverse_event_bad_grade_names_the_field(browser: Callable[[str], Browser], web: Web) -> None:
    r = browser("inv1").post(
        subject_url(_randomized(web)) + "/adverse-events", {"term": "Diarrhea", "grade": "7", "onset": "2025-03-02"}
    )
    assert r.status_code == 422 and 'id="err-grade"' in r.text
    assert 'value="Diarrhea"' in r.text


def test_end_of_treatment_then_no_more_dosing(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_randomized(web))
    assert b.get(url + "/end-of-treatment").status_code == 200
    r = b.post(url + "/end-of-treatment", {"eot_date": "2025-03-02", "reason": "sideways"})
    assert r.status_code == 422 and 'id="err-reason"' in r.text
    r = b.post(url + "/end-of-treatment", {"eot_date": "2025-03-02", "reason": "adverse_event", "detail": XSS})
    assert r.status_code == 303
    r = b.post(url + "/visits", visit_form(b, _randomized(web)))
    assert r.status_code == 409 and "treatment ended" in r.text


def test_death_form(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_randomized(web))
    r = b.post(url + "/death", {"death_date": "2025-03-02", "cause": "unknown-cause"})
    assert r.status_code == 422 and 'id="err-cause"' in r.text
    assert b.post(url + "/death", {"death_date": "2025-03-02", "cause": "progressive_disease"}).status_code == 303
    r = b.post(url + "/death", {"death_date": "2025-03-02", "cause": "progressive_disease"})
    assert r.status_code == 409 and "recorded already" in r.text


def test_monitor_reads_but_cannot_enter(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("monitor")
    url = subject_url(_randomized(web))
    overview = b.get(url)
    assert overview.status_code == 200 and 'id="schedule-doses"' in overview.text
    assert "/visits/new" not in overview.text
    for path in ("/visits/new", "/assessments/new", "/adverse-events/new", "/end-of-treatment", "/death", "/sign"):
        assert b.get(url + path).status_code == 403, path


def test_overview_shows_the_schedule_from_the_protocol(browser: Callable[[str], Browser], web: Web) -> None:
    page = browser("inv1").get(subject_url(_randomized(web))).text
    if 'id="schedule-doses"' not in page:  # physician's-choice arm: the calendar waits for the regimen
        assert "choose a regimen" in page
        return
    # EVER-132-002 scans every 6 weeks from randomization (protocol tumour_assessment); randomized 2025-03-01
    assert "<td>week 6</td><td>2025-04-12</td>" in page
    assert re.search(r"<td>2025-03-01</td><td class=\"num\">1</td><td>C1D1</td>", page)
