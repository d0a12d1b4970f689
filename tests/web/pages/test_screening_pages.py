"""Dashboard, registration, consent, eligibility with live reasons, randomization (issue 7 item 5; B3, B8).

Reference facts: ``tests/integration/_trial.facts_for`` (eligible for EVER-132-002, docs/examples); inclusion I7's
ANC threshold ≥ 1.5 × 10⁹/L is the protocol's (src/trialtwin/protocol/studies/ever-132-002.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from _pages import Browser, form_values, subject_url
from _trial import facts_for
from _web import STUDY, Web

PREVIEW = f"/studies/{STUDY}/eligibility/preview"


def test_dashboard_lists_only_the_users_sites(browser: Callable[[str], Browser], web: Web) -> None:
    page = browser("inv1").get(f"/studies/{STUDY}")
    assert page.status_code == 200
    for sid in web.subjects["CN-001"].values():
        assert sid in page.text
    for sid in web.subjects["CN-002"].values():
        assert sid not in page.text
    assert 'id="register"' in page.text  # site staff may screen


def test_monitor_sees_every_site_but_cannot_register(browser: Callable[[str], Browser], web: Web) -> None:
    page = browser("monitor").get(f"/studies/{STUDY}")
    assert page.status_code == 200
    assert web.subjects["CN-002"]["randomized"] in page.text and web.subjects["CN-001"]["randomized"] in page.text
    assert 'id="register"' not in page.text
    r = browser("monitor").post(f"/studies/{STUDY}/subjects", {"site": "CN-001"})
    assert r.status_code == 403


def test_statistician_dashboard_shows_no_subject(browser: Callable[[str], Browser], web: Web) -> None:
    page = browser("statistician").get(f"/studies/{STUDY}")
    assert page.status_code == 200
    assert web.subjects["CN-001"]["randomized"] not in page.text
    assert f"/studies/{STUDY}/export" in page.text


def test_register_goes_to_the_new_subject(browser: Callable[[str], Browser]) -> None:
    b = browser("coord1")
    r = b.post(f"/studies/{STUDY}/subjects", {"site": "CN-001"})
    assert r.status_code == 303
    assert re.fullmatch(rf"/studies/{STUDY}/subjects/CN-001-S\d{{3}}", r.headers["location"])
    page = b.get(r.headers["location"])
    assert page.status_code == 200 and "Record consent" in page.text


def test_register_at_another_site_is_refused(browser: Callable[[str], Browser]) -> None:
    r = browser("inv1").post(f"/studies/{STUDY}/subjects", {"site": "CN-002"})
    assert r.status_code == 403 and 'id="err-site"' in r.text


def test_register_without_a_site_names_the_field(browser: Callable[[str], Browser]) -> None:
    r = browser("inv1").post(f"/studies/{STUDY}/subjects", {"site": ""})
    assert r.status_code == 422 and 'id="err-site"' in r.text


def test_subject_of_another_site_is_not_found(browser: Callable[[str], Browser], web: Web) -> None:
    r = browser("inv1").get(subject_url(web.subjects["CN-002"]["registered"]))
    assert r.status_code == 404
    assert "<h1>Not found</h1>" in r.text


def test_post_without_csrf_is_refused(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["registered"]
    r = b.client.post(subject_url(sid) + "/consent", data={"consent_date": "2025-03-02", "form_version": "v1"})
    assert r.status_code == 403
    assert "Record consent" in b.get(subject_url(sid)).text  # still not consented


def test_consent_bad_date_names_the_field_and_writes_nothing(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["registered"]
    r = b.post(subject_url(sid) + "/consent", {"consent_date": "2025-02-30", "form_version": "v1"})
    assert r.status_code == 422 and 'id="err-consent_date"' in r.text
    r = b.post(subject_url(sid) + "/consent", {"consent_date": "2025-03-04", "form_version": "v1"})  # future
    assert r.status_code in (409, 422) and "in the future" in r.text
    r = b.post(subject_url(sid) + "/consent", {"consent_date": "2025-03-02", "form_version": ""})
    assert r.status_code == 422 and 'id="err-form_version"' in r.text
    assert "Record consent" in b.get(subject_url(sid)).text


def test_consent_then_eligibility_form(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["registered"]
    r = b.post(subject_url(sid) + "/consent", {"consent_date": "2025-03-02", "form_version": "ICF v2.0"})
    assert r.status_code == 303
    page = b.get(subject_url(sid) + "/eligibility")
    assert page.status_code == 200
    assert 'name="anc"' in page.text and 'name="prior_chemo_lines_mbc"' in page.text
    assert f'hx-post="{PREVIEW}"' in page.text


def test_preview_gives_reasons_without_saving(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    before = b.get(subject_url(sid)).text.count("data-criterion")
    facts = form_values(facts_for(1))
    r = b.post(PREVIEW, {**facts, "anc": "1.2"})
    assert r.status_code == 200
    assert 'id="verdict-status">Not eligible<' in r.text
    failed = re.search(r'<li class="criterion failed" data-criterion="I7">(.*?)</li>', r.text, re.S)
    assert failed is not None, r.text
    assert "neutrophil" in failed.group(1).lower() and "1.2" in failed.group(1)
    assert "<html" not in r.text  # a fragment for HTMX
    # nothing was saved: the stored verdict is still eligible
    assert 'id="verdict-status">Eligible<' in b.get(subject_url(sid)).text
    assert b.get(subject_url(sid)).text.count("data-criterion") == before


def test_preview_of_partial_facts_lists_the_unknown_criteria(browser: Callable[[str], Browser]) -> None:
    r = browser("coord1").post(PREVIEW, {"age": "52", "sex": "female"})
    assert r.status_code == 200
    assert "Incomplete" in r.text
    unknown = re.findall(r'class="criterion unknown" data-criterion="([A-Z]\d+)"', r.text)
    assert "I1" in unknown and "E1" in unknown


def test_preview_bad_value_is_422_naming_the_field(browser: Callable[[str], Browser]) -> None:
    b = browser("inv1")
    r = b.post(PREVIEW, {"anc": "lots"})
    assert r.status_code == 422 and 'data-field="anc"' in r.text
    r = b.post(PREVIEW, {"sex": "other"})
    assert r.status_code == 422 and 'data-field="sex"' in r.text and "levels: female, male" in r.text


def test_preview_needs_a_site_staff_role(browser: Callable[[str], Browser]) -> None:
    assert browser("monitor").post(PREVIEW, {"age": "50"}).status_code == 403


def test_save_eligibility_bad_value_rerenders_with_the_field(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    r = b.post(subject_url(sid) + "/eligibility", {**form_values(facts_for(1)), "anc": "-1", "reason": "typo"})
    assert r.status_code == 422
    assert 'id="err-anc"' in r.text and "below the minimum" in r.text
    assert 'value="-1"' in r.text  # the entered values come back


def test_correction_needs_a_reason(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    r = b.post(subject_url(sid) + "/eligibility", form_values(facts_for(1)))
    assert r.status_code == 422 and 'id="err-reason"' in r.text


def test_screen_save_and_randomize(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = b.post(f"/studies/{STUDY}/subjects", {"site": "CN-001"}).headers["location"].rsplit("/", 1)[1]
    assert (
        b.post(subject_url(sid) + "/consent", {"consent_date": "2025-03-03", "form_version": "v2"}).status_code == 303
    )
    r = b.post(subject_url(sid) + "/eligibility", form_values(facts_for(5)))
    assert r.status_code == 303
    overview = b.get(subject_url(sid)).text
    assert 'id="verdict-status">Eligible<' in overview and "/randomization" in overview
    confirm = b.get(subject_url(sid) + "/randomization")
    assert confirm.status_code == 200 and 'id="randomize"' in confirm.text
    r = b.post(subject_url(sid) + "/randomization")
    assert r.status_code == 303 and r.headers["location"] == subject_url(sid) + "/randomization"
    page = b.get(r.headers["location"]).text
    number = re.search(r'id="alloc-subject-number">([^<]+)<', page)
    assert number is not None and number.group(1).startswith("CN-001-")
    arm = re.search(r'id="alloc-arm">([^<]+)<', page)
    assert arm is not None and arm.group(1).strip()
    stratum = re.search(r'id="alloc-stratum">([^<]+)<', page)
    # facts_for(5): 3 prior lines, visceral metastasis, no prior CDK4/6 (tests/integration/_trial.py)
    assert stratum is not None and stratum.group(1) == "prior_lines=3-4|visceral=yes|prior_cdk46=no"
    # a second click shows the same allocation, never a second one
    again = b.post(subject_url(sid) + "/randomization")
    assert again.status_code == 303
    assert number.group(1) in b.get(again.headers["location"]).text


def test_randomize_not_eligible_is_refused_with_the_reason(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["registered"]
    r = b.post(subject_url(sid) + "/randomization")
    assert r.status_code == 409
    assert "consent" in r.text


def test_admin_dashboard_offers_the_audit_trail_not_subjects(browser: Callable[[str], Browser], web: Web) -> None:
    page = browser("admin").get(f"/studies/{STUDY}")
    assert page.status_code == 200
    assert web.subjects["CN-001"]["randomized"] not in page.text
    assert f'href="/studies/{STUDY}/audit"' in page.text
    assert browser("admin").get(subject_url(web.subjects["CN-001"]["randomized"])).status_code == 403


def test_unknown_subject_is_an_html_404(browser: Callable[[str], Browser]) -> None:
    r = browser("monitor").get(subject_url("CN-001-S999"))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html") and "<h1>Not found</h1>" in r.text


def test_correction_starts_from_the_saved_facts(browser: Callable[[str], Browser], web: Web) -> None:
    b = browser("inv1")
    sid = web.subjects["CN-001"]["eligible"]
    saved = facts_for(1)  # what tests/web/_web.py saved for this subject
    form = b.get(subject_url(sid) + "/eligibility").text
    assert re.search(rf'<input id="f-anc" name="anc" [^>]*value="{saved["anc"]}">', form)
    assert re.search(r'<select id="f-sex" name="sex">.*?<option value="female" selected>', form, re.S)
    assert 'id="f-reason"' in form  # a correction asks for a reason
    r = b.post(subject_url(sid) + "/eligibility", {**form_values(saved), "anc": "1.0", "reason": "ANC re-tested"})
    assert r.status_code == 303
    overview = b.get(subject_url(sid)).text
    assert 'id="verdict-status">Not eligible<' in overview and "facts version 2" in overview


def test_site_limited_monitor_sees_one_site_and_no_study_audit_link(
    browser: Callable[[str], Browser], web: Web
) -> None:
    page = browser("monitor1").get(f"/studies/{STUDY}").text
    assert web.subjects["CN-001"]["randomized"] in page
    assert not any(sid in page for sid in web.subjects["CN-002"].values())
    assert f'href="/studies/{STUDY}/audit"' not in page  # the whole trail needs the role at every site
    assert browser("monitor1").get(f"/studies/{STUDY}/audit").status_code == 403
