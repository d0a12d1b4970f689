"""The issue's "Done when" journey in a real browser against ``trialtwin demo-data`` + ``trialtwin serve``: log in,
screen a subject with live eligibility reasons, consent, save eligibility, randomize, record a dosing visit and
two scans, see the RECIST result, and find the dose decision and the response on the subject overview; plus an
XSS payload in a free-text field stays inert (requirement G12) and a reload after saving records nothing twice.

References: EVER-132-002 inclusion I7 needs ANC ≥ 1.5 × 10⁹/L (protocol file); RECIST 1.1 §4.3.1 (Eisenhauer
2009): a ≥ 30 % decrease of the sum of diameters from baseline is a partial response (60 → 37 mm: -38.3 %).
"""

from __future__ import annotations

import datetime as dt
import re

from _browser import PASSWORD, STUDY, Shots, ThreadServer
from _trial import facts_for
from playwright.sync_api import Page, expect


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/studies/{STUDY}$"))


def _fill_facts(page: Page, facts: dict[str, object]) -> None:
    for name, value in facts.items():
        field = page.locator(f'[name="{name}"]')
        if isinstance(value, bool):
            field.select_option("yes" if value else "no")
        elif isinstance(value, str):
            field.select_option(value)
        else:
            field.fill(str(value))


def _register_consent(page: Page, shots: Shots) -> str:
    page.click("#register")
    expect(page.locator("h1")).to_contain_text(re.compile(r"CN-00\d-S\d{3}"))
    screening_id = page.locator("h1").inner_text().split()[0]
    page.click("text=Record consent")
    page.fill("#f-form_version", "ICF v2.0 2023-01-10")
    shots("consent")
    page.click("#save-consent")
    expect(page.locator("h1 .badge")).to_have_text("consented")
    return screening_id


def test_screen_randomize_dose_and_scan(page: Page, server: ThreadServer, shots: Shots) -> None:
    today = server.clock.today()
    _login(page, "inv1")
    shots("dashboard")
    screening_id = _register_consent(page, shots)

    # eligibility: the verdict follows the form live, before anything is saved
    page.click("text=Enter eligibility facts")
    status = page.locator("#live-verdict #verdict-status")
    expect(status).to_have_text(re.compile("Incomplete"))
    facts = facts_for(1)
    _fill_facts(page, {**facts, "anc": 1.2})
    expect(status).to_have_text("Not eligible")
    reason = page.locator('#live-verdict li.failed[data-criterion="I7"] .reason')
    expect(reason).to_contain_text("1.2")
    shots("eligibility-live-not-eligible", full_page=False)
    page.fill('[name="anc"]', "1.8")
    expect(status).to_have_text("Eligible")
    expect(page.locator("#live-verdict li.failed")).to_have_count(0)
    shots("eligibility-live-eligible", full_page=False)
    page.click("#save-eligibility")
    expect(page.locator("h1 .badge")).to_have_text("eligible")

    # randomization: confirmation, then the allocation
    page.click("#actions >> text=Randomize")
    shots("randomize-confirm")
    page.click("#randomize")
    expect(page.locator("#alloc-subject-number")).to_have_text(re.compile(r"^CN-001-\d{4}$"))
    expect(page.locator("#alloc-arm")).not_to_be_empty()
    expect(page.locator("#alloc-stratum")).to_have_text("prior_lines=2|visceral=yes|prior_cdk46=no")
    shots("allocation")
    page.click("text=Subject overview and schedule")
    expect(page.locator("h1 .badge")).to_have_text("randomized")
    shots("overview-randomized")

    # dosing visit: baseline (height for BSA doses), then weight and labs → the dose decision
    page.click("#actions >> text=Dosing visit")
    page.click("summary")
    page.fill("#f-baseline_weight_kg", "64")
    page.fill("#f-height_cm", "163")
    page.fill("#f-ecog", "1")
    page.click("#save-baseline")
    expect(page.locator(".alert.success")).to_have_text("Baseline recorded.")
    if page.locator("#f-regimen").count():
        page.select_option("#f-regimen", "eribulin")
    page.fill("#f-weight_kg", "64")
    page.fill("#f-lab_anc", "2.1")
    page.fill("#f-lab_platelets", "210")
    shots("visit-form")
    page.click("#save-visit")
    expect(page.locator("#dose-action")).to_have_text("give")
    expect(page.locator("#dose-amount")).to_have_text(re.compile(r"mg/(kg|m2)$"))
    shots("dose-decision")

    # tumour assessments: the baseline scan two days before randomization ...
    page.click("text=Back to the subject")
    page.click("#actions >> text=Tumour assessment")
    page.fill("#f-assessment_date", (today - dt.timedelta(days=2)).isoformat())
    for i, (lesion, organ, size) in enumerate((("T1", "liver", "40"), ("T2", "lung", "20"))):
        page.fill(f"#f-t{i}_id", lesion)
        page.fill(f"#f-t{i}_organ", organ)
        page.fill(f"#f-t{i}_diameter", size)
    page.click("#save-assessment")
    expect(page.locator("#recist-overall")).to_have_text("Baseline recorded")
    expect(page.locator("#recist-sum")).to_have_text("60.0 mm")

    # ... and the week-6 scan, six weeks later (the idle session has ended: log in again)
    server.clock.offset = dt.timedelta(weeks=6)
    page.goto(f"/studies/{STUDY}/subjects/{screening_id}/assessments/new")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#f-username", "inv1")
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/assessments/new$"))
    expect(page.locator("#f-t0_id")).to_have_value("T1")  # the baseline's lesions are offered again
    expect(page.locator("#f-assessment_date")).to_have_value(server.clock.today().isoformat())
    page.fill("#f-t0_diameter", "25")
    page.fill("#f-t1_diameter", "12")
    shots("scan-follow-up")
    page.click("#save-assessment")
    expect(page.locator("#recist-overall")).to_have_text("PR")
    expect(page.locator("#recist-pct")).to_have_text("-38.3 %")
    shots("recist-result")

    page.reload()  # Post/Redirect/Get: a reload shows the stored response again and records nothing
    expect(page.locator("#recist-overall")).to_have_text("PR")

    # the overview lists what was recorded: the visit's dose decision and the scan's response
    page.click("text=Back to the subject")
    expect(page.locator("#visits tbody tr")).to_have_count(1)
    expect(page.locator("#visits .decision")).to_have_text("give")
    scans = page.locator('table.assessments[data-reader="investigator"] tbody tr')
    expect(scans).to_have_count(2)
    expect(scans.nth(1).locator("td.response .badge")).to_have_text("PR")
    expect(scans.nth(1).locator("td.pct")).to_have_text("-38.3 %")
    expect(page.locator("#schedule-scans")).to_contain_text("week 6")  # the calendar of the dosed regimen
    expect(page.locator("#schedule-doses")).to_contain_text("C1D1")
    shots("overview-with-scans")

    # a correction of an entered value: reason required, old → new shown (21 CFR 11.10(e))
    page.click("#correct-link")
    anc = page.locator("#f-record option", has_text=" anc ").get_attribute("value")
    assert anc is not None and anc.startswith("labs:")
    page.select_option("#f-record", anc)
    page.select_option("#f-field", "value")
    page.fill("#f-value", "2.0")
    page.click("#save-correction")
    expect(page.locator("#err-reason")).to_be_visible()  # 422: no change without a reason
    page.fill("#f-reason", "transcribed from the wrong sample")
    page.click("#save-correction")
    expect(page.locator("#old-value")).to_have_text("2.1")
    expect(page.locator("#new-value")).to_have_text("2.0")
    shots("correction")
    assert screening_id.startswith("CN-001-S")


def test_trialtwin_serve_serves_the_pages_under_its_csp(served_page: Page, shots: Shots) -> None:
    """``trialtwin serve`` itself: log in, and the live verdict works with htmx under the CSP (no violation)."""
    page = served_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    _login(page, "inv2")
    expect(page.locator("#f-site")).to_have_value("CN-002")
    _register_consent(page, shots)
    page.click("text=Enter eligibility facts")
    expect(page.locator("#live-verdict #verdict-status")).to_have_text(re.compile("Incomplete"))
    page.select_option('[name="brain_metastases"]', "yes")
    expect(page.locator("#live-verdict #verdict-status")).to_have_text("Not eligible")
    expect(page.locator('#live-verdict li.failed[data-criterion="E1"]')).to_be_visible()
    page.fill('[name="age"]', "130")  # above the declared maximum: the 422 fragment names the field at once
    expect(page.locator('#live-verdict [data-field="age"]')).to_contain_text("above the maximum 120")
    assert page.evaluate("typeof window.htmx") == "object"
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems


def test_xss_payload_in_a_free_text_field_stays_inert(page: Page, shots: Shots) -> None:
    fired: list[str] = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    _login(page, "coord1")
    screening_id = _register_consent(page, shots)
    payload = "<img src=x onerror=window.__xss=1;alert(1)><script>window.__xss=2</script>"
    page.click("text=Enter eligibility facts")
    _fill_facts(page, facts_for(0))
    page.click("#save-eligibility")
    page.click("#actions >> text=Randomize")
    page.click("#randomize")
    page.goto(f"/studies/{STUDY}/subjects/{screening_id}/adverse-events/new")
    page.fill("#f-term", payload)
    page.select_option("#f-grade", "2")
    page.click("#save-ae")
    expect(page.locator("#ae-term")).to_have_text(payload)  # shown as text
    shots("xss-inert")
    page.reload()  # the saved form redirected (303): the reload repeats a GET, not the POST
    page.goto(f"/studies/{STUDY}/subjects/{screening_id}")
    expect(page.locator("#adverse-events tbody tr")).to_have_count(1)
    expect(page.locator("#adverse-events tbody td").first).to_have_text(payload)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#ae-term img").count() == 0
    page.goto(f"/studies/{STUDY}/subjects/{screening_id}/audit")
    expect(page.locator("#audit")).to_contain_text(payload)
    assert page.evaluate("window.__xss") is None
    assert fired == []


def test_live_preview_after_the_session_ended_goes_to_the_login_page(
    page: Page, server: ThreadServer, shots: Shots
) -> None:
    """Idle timeout (30 min, ASVS 7.3.1) while the form is open: the next live update leads to the login page,
    which brings the user back to the form, instead of pasting the login page into the verdict box."""
    _login(page, "coord2")
    screening_id = _register_consent(page, shots)
    page.click("text=Enter eligibility facts")
    expect(page.locator("#live-verdict #verdict-status")).to_have_text(re.compile("Incomplete"))
    server.clock.offset = dt.timedelta(minutes=31)
    page.fill('[name="age"]', "47")
    expect(page).to_have_url(re.compile(r"/login\?next=.*eligibility$"))
    page.fill("#f-username", "coord2")
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/subjects/{screening_id}/eligibility$"))
    expect(page.locator("#live-verdict #verdict-status")).to_have_text(re.compile("Incomplete"))
