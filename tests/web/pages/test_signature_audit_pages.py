"""E-signature (21 CFR 11.50, 11.70, 11.200(a)(1)), the read-only audit view (11.10(e)) and the export page
(statisticians, never site roles; ICH E9 §2.3)."""

from __future__ import annotations

import re
from collections.abc import Callable

from _pages import Browser, record_visit, subject_url
from _web import PASSWORD, STUDY, Web


def _sid(web: Web) -> str:
    return web.subjects["CN-001"]["randomized"]


def test_signing_needs_the_password_and_shows_the_manifestation(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_sid(web))
    form = b.get(url + "/sign")
    assert form.status_code == 200 and 'name="password"' in form.text and 'name="username"' in form.text
    r = b.post(url + "/sign", {"meaning": "review", "username": "inv1", "password": ""})
    assert r.status_code == 422 and 'id="err-password"' in r.text
    r = b.post(url + "/sign", {"meaning": "review", "username": "inv1", "password": "not my password!"})
    assert r.status_code == 401 and 'id="err-password"' in r.text
    r = b.post(url + "/sign", {"meaning": "gossip", "username": "inv1", "password": PASSWORD})
    assert r.status_code == 422 and 'id="err-meaning"' in r.text
    r = b.post(url + "/sign", {"meaning": "review", "username": "inv1", "password": PASSWORD})
    assert r.status_code == 303
    overview = b.get(url).text
    # manifestation: printed name, UTC date-time, meaning (11.50(a)); status valid
    manifestation = re.search(r"<strong>Inv1 Person</strong> — (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC — review", overview)
    assert manifestation is not None and manifestation.group(1) == "2025-03-03 09:00:00"
    assert '<span class="badge valid">valid</span>' in overview
    # a later change of the casebook breaks it (11.70)
    r = b.post(url + "/adverse-events", {"term": "Nausea", "grade": "1", "onset": "2025-03-02"})
    assert r.status_code == 303
    overview = b.get(url).text
    assert '<span class="badge broken">broken</span>' in overview
    assert '<span class="badge valid">valid</span>' not in overview


def test_second_signing_in_the_session_needs_only_the_password(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_sid(web))
    assert b.post(url + "/sign", {"meaning": "authorship", "username": "inv1", "password": PASSWORD}).status_code == 303
    form = b.get(url + "/sign").text
    assert 'name="username"' not in form
    assert b.post(url + "/sign", {"meaning": "approval", "password": PASSWORD}).status_code == 303
    assert b.get(url).text.count('<span class="badge valid">valid</span>') == 2


def test_a_visit_is_signed_from_its_dose_decision(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    url = subject_url(_sid(web))
    page = record_visit(b, _sid(web), lab_anc="2.0", lab_platelets="200").text
    link = re.search(r'id="sign-visit" href="([^"]+)"', page)
    assert link is not None
    visit_id = link.group(1).rsplit("=", 1)[1]
    form = b.get(link.group(1)).text
    assert f'name="visit_id" value="{visit_id}"' in form and f"Sign visit {visit_id} of" in form
    r = b.post(url + "/sign", {"meaning": "approval", "username": "inv1", "password": PASSWORD, "visit_id": visit_id})
    assert r.status_code == 303
    assert re.search(rf'valid</span>\s*<span class="muted small">visit {visit_id}</span>', b.get(url).text)
    r = b.post(url + "/sign", {"meaning": "approval", "password": PASSWORD, "visit_id": "999999"})
    assert r.status_code == 422 and "<code>visit_id</code>: subject" in r.text


def test_only_investigators_sign(browser: Callable[[str], Browser], web: Web) -> None:
    url = subject_url(_sid(web))
    assert browser("coord1").get(url + "/sign").status_code == 403
    r = browser("coord1").post(url + "/sign", {"meaning": "review", "username": "coord1", "password": PASSWORD})
    assert r.status_code == 403
    assert "Sign casebook" not in browser("coord1").get(url).text


def test_study_audit_is_read_only_and_for_monitors(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("monitor")
    page = b.get(f"/studies/{STUDY}/audit")
    assert page.status_code == 200
    assert 'id="audit"' in page.text and "<form" not in page.text.split("<main", 1)[1]
    assert "[concealed]" in page.text  # the randomization state (seed, list) is never shown
    assert browser("inv1").get(f"/studies/{STUDY}/audit").status_code == 403
    assert b.post(f"/studies/{STUDY}/audit").status_code == 405


def test_audit_pages_forward(browser: Callable[[str], Browser]) -> None:
    b = browser("datamanager")
    first = b.get(f"/studies/{STUDY}/audit").text
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>\s*<td class="small">', first)]
    assert seqs == sorted(seqs) and seqs[0] == 1
    later = b.get(f"/studies/{STUDY}/audit?after={seqs[-1]}").text
    more = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>\s*<td class="small">', later)]
    assert all(s > seqs[-1] for s in more)


def test_subject_audit_shows_the_subjects_changes(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = _sid(web)
    page = b.get(subject_url(sid) + "/audit")
    assert page.status_code == 200
    assert "informed consent recorded" in page.text and "randomized: ledger sequence" in page.text
    assert browser("inv1").get(subject_url(web.subjects["CN-002"]["randomized"]) + "/audit").status_code == 404


def test_export_page_for_the_statistician_only(browser: Callable[[str], Browser]) -> None:
    page = browser("statistician").get(f"/studies/{STUDY}/export")
    assert page.status_code == 200
    assert f'href="/api/v1/studies/{STUDY}/export"' in page.text
    for role in ("inv1", "coord1", "monitor"):
        assert browser(role).get(f"/studies/{STUDY}/export").status_code == 403, role
