"""The casebook export over HTTP and the read-only audit trail (trial-system-requirements A5, A8, C1, G18;
21 CFR 11.10(b),(e), 11.50, 11.70; ICH E6(R3) 4.2.2(b)).

* C1/G18: a signed casebook shows the printed name, the UTC date-time and the meaning on the screen (the
  subject page), in the PDF (text extracted with pypdf) and in the CSV; after a change of a signed value the
  signature reads "broken" in all three.
* A8: JSON, CSV and PDF with their content types and attachment file names; the JSON re-verifies and rebuilds.
* A5: PUT, PATCH, DELETE (and POST) on every audit route answer 405 for every principal, admin included; no
  setting or environment variable switches the audit trail off, and a write through the API records its
  audit entry.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from _trial import facts_for
from _web import PASSWORD, STUDY, USERS, Web
from pypdf import PdfReader
from sqlalchemy import func, select

from trialtwin.services import UnitOfWork, casebook
from trialtwin.services.casebook import SCHEMA, record_mismatches, verify_casebook
from trialtwin.store.audit import AuditRecorder
from trialtwin.store.tables import AuditLog
from trialtwin.web.policy import walk_routes
from trialtwin.web.settings import Settings

SRC = Path(__file__).resolve().parents[2] / "src" / "trialtwin"


def _casebook(sid: str, fmt: str | None = None) -> str:
    url = f"/api/v1/studies/{STUDY}/subjects/{sid}/casebook"
    return url + (f"?format={fmt}" if fmt else "")


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _csv_signatures(data: bytes) -> list[dict[str, str]]:
    return [r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig"))) if r["kind"] == "signature"]


def test_the_signature_manifestation_is_on_screen_in_the_pdf_and_the_csv_and_breaks_in_all_three(web: Web) -> None:
    sid = web.subjects["CN-001"]["eligible"]
    h = web.bearer("inv1")
    body = {"meaning": "approval", "password": PASSWORD, "username": "inv1"}
    r = web.client.post(f"/api/v1/studies/{STUDY}/subjects/{sid}/signatures", json=body, headers=h)
    assert r.status_code == 201, r.text
    # the clock of the web fixtures starts at 2025-03-03 09:00 UTC (tests/web/_web.py START) and stands still
    when = "2025-03-03 09:00:00 UTC"
    manifestation = f"Inv1 Person — {when} — approval"
    web.login("monitor")  # a reader who did not sign: what an inspector's monitor sees
    page = web.client.get(f"/studies/{STUDY}/subjects/{sid}")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.text))
    assert manifestation in text and "valid" in text
    pdf = web.client.get(_casebook(sid, "pdf"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    pdf_text = _pdf_text(pdf.content)
    assert manifestation in pdf_text and "status valid" in pdf_text
    csv_rows = _csv_signatures(web.client.get(_casebook(sid, "csv")).content)
    assert [(s["printed_name"], s["time_utc"], s["meaning"], s["status"]) for s in csv_rows] == [
        ("Inv1 Person", "2025-03-03T09:00:00.000000+00:00", "approval", "valid")
    ]
    # a signed value changes (eligibility facts corrected): the signature is broken everywhere (11.70)
    web.clock.advance(minutes=5)
    r = web.client.put(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/eligibility",
        json={"facts": facts_for(1, age=61), "reason": "age corrected from the ID card"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    page = web.client.get(f"/studies/{STUDY}/subjects/{sid}")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.text))
    assert manifestation in text and "broken" in text
    pdf_text = _pdf_text(web.client.get(_casebook(sid, "pdf")).content)
    assert manifestation in pdf_text and "status broken" in pdf_text and "status valid" not in pdf_text
    csv_rows = _csv_signatures(web.client.get(_casebook(sid, "csv")).content)
    assert [(s["printed_name"], s["time_utc"], s["meaning"], s["status"]) for s in csv_rows] == [
        ("Inv1 Person", "2025-03-03T09:00:00.000000+00:00", "approval", "broken")
    ]
    doc = web.client.get(_casebook(sid, "json")).json()
    assert [(s["manifestation"], s["status"]) for s in doc["signatures"]] == [(manifestation, "broken")]


def test_the_three_formats_have_their_types_and_file_names_and_the_json_verifies(web: Web) -> None:
    sid = web.subjects["CN-001"]["randomized"]
    h = web.bearer("coord1")
    expected = {"json": "application/json", "csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
    for fmt, media in expected.items():
        r = web.client.get(_casebook(sid, fmt), headers=h)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == media
        assert r.headers["content-disposition"] == (
            f'attachment; filename="casebook_{STUDY}_{sid}_20250303T090000Z.{fmt}"'
        )
    doc = web.client.get(_casebook(sid), headers=h).json()  # JSON is the default
    assert doc["schema"] == SCHEMA and doc["subject"]["site"] == "CN-001" and doc["record"]["arm"]
    report = verify_casebook(doc)
    assert report.ok and report.checked >= 4 and report.concealed == 1, report
    assert record_mismatches(doc)[1] == []
    # the allocation's block details stay concealed (ICH E9 §2.3) in every format
    assert '"block":"[concealed]"' in "".join(e["new"] for e in doc["audit"] if e["table"] == "randomization_ledger")
    r = web.client.get(_casebook(sid, "xml"), headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "format"]


def test_the_casebook_follows_the_subject_read_policy(web: Web) -> None:
    sid = web.subjects["CN-001"]["randomized"]
    assert web.client.get(_casebook(sid)).status_code == 401
    assert web.client.get(_casebook(sid), headers=web.bearer("inv2")).status_code == 404  # another site's subject
    assert web.client.get(_casebook(sid), headers=web.bearer("statistician")).status_code == 403
    assert web.client.get(_casebook("CN-001-9999"), headers=web.bearer("inv1")).status_code == 404


def test_the_subject_page_links_the_three_formats(web: Web) -> None:
    sid = web.subjects["CN-001"]["randomized"]
    web.login("inv1")
    page = web.client.get(f"/studies/{STUDY}/subjects/{sid}").text
    links = re.findall(r'href="([^"]*/casebook\?format=\w+)"', page)
    assert links == [_casebook(sid, f) for f in ("pdf", "csv", "json")]
    for link in links:
        assert web.client.get(link).status_code == 200


def test_no_role_can_change_the_audit_trail(web: Web) -> None:
    """A5: every audit route (the API and the pages) answers 405 to PUT, PATCH, DELETE and POST for anonymous
    and for every role, admin included (the routes are read only; ICH E6(R3) 4.2.2(b))."""
    routes = sorted({e.path for e in walk_routes(web.app) if "/audit" in e.path})
    assert "/api/v1/studies/{study_id}/audit" in routes and len(routes) >= 3, routes
    methods_served = {e.method for e in walk_routes(web.app) if "/audit" in e.path}
    assert methods_served <= {"GET", "HEAD"}, methods_served
    sid = web.subjects["CN-001"]["randomized"]
    principals = [None, "admin", *USERS]
    results: dict[tuple[str | None, str, str], int] = {}
    for username in principals:
        client = web.new_client()
        headers = {}
        if username is not None:
            headers = {"X-CSRF-Token": web.login(username, client)}
        for path in routes:
            url = path.replace("{study_id}", STUDY).replace("{screening_id}", sid)
            for query in ("", f"?subject={sid}"):
                for method in ("PUT", "PATCH", "DELETE", "POST"):
                    results[(username, method, url + query)] = client.request(
                        method, url + query, headers=headers
                    ).status_code
    assert len(results) == len(principals) * len(routes) * 2 * 4
    assert set(results.values()) == {405}, {k: v for k, v in results.items() if v != 405}


def test_no_setting_turns_the_audit_trail_off(web: Web) -> None:
    """A5: the settings have no audit switch; the only environment variables of ``src/`` that name the audit
    trail choose the checkpoint key; every unit of work has its audit recorder; a write adds audit entries."""
    assert not [name for name in Settings.model_fields if "audit" in name.lower()]
    env = set()
    for path in SRC.rglob("*.py"):
        env |= set(re.findall(r"TRIALTWIN_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    assert {v for v in env if "AUDIT" in v} == {"TRIALTWIN_AUDIT_KEY", "TRIALTWIN_AUDIT_KEY_FILE"}
    # every unit of work writes through an audit recorder (no constructor argument or setting skips it)
    with UnitOfWork(web.db, actor=None, clock=web.clock) as uow:
        assert isinstance(uow.audit, AuditRecorder)
    with web.db.read_session() as s:
        before = s.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    sid = web.subjects["CN-001"]["registered"]
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/consent",
        json={"consent_date": "2025-03-02", "form_version": "ICF v2.0"},
        headers=web.bearer("coord1"),
    )
    assert r.status_code in (200, 201), r.text
    with web.db.read_session() as s:
        after = s.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    assert after > before


def test_chinese_and_korean_free_text_is_drawn_in_the_pdf(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """EVER-132-002's sites are in China, South Korea and Taiwan: a new-therapy detail typed in simplified and
    traditional Chinese and in Korean is drawn in the PDF (the text pypdf extracts holds it) with the CJK fallback
    font that `make test` installs (fonts-wqy-microhei); without any CJK font the PDF says which characters it
    could not draw and points to the CSV and JSON, which hold them exactly."""
    sid = web.subjects["CN-001"]["randomized"]
    detail = "改用卡培他滨 · 改用卡培他濱 · 카페시타빈으로 변경"
    r = web.client.post(
        f"/api/v1/studies/{STUDY}/subjects/{sid}/new-therapy",
        json={"start_date": "2025-03-03", "detail": detail},
        headers=web.bearer("inv1"),
    )
    assert r.status_code == 201, r.text
    headers = web.bearer("monitor")
    assert casebook._cjk_font() is not None, "no CJK font: `make test` installs Debian's fonts-wqy-microhei"
    text = _pdf_text(web.client.get(_casebook(sid, "pdf"), headers=headers).content)
    for word in detail.split(" · "):
        assert word.replace(" ", "") in text.replace(" ", "")
    assert "in no font of this PDF" not in text
    assert detail in web.client.get(_casebook(sid, "csv"), headers=headers).content.decode("utf-8-sig")

    monkeypatch.setattr(casebook, "CJK_FONTS", ())
    monkeypatch.delenv("TRIALTWIN_CJK_FONT", raising=False)
    text = _pdf_text(web.client.get(_casebook(sid, "pdf"), headers=headers).content)
    assert "改用卡培他滨" not in text.replace(" ", "")  # blanks: the characters are not drawn
    distinct = len({ch for ch in detail if not ch.isspace() and ord(ch) > 0x2FFF})
    assert f"{distinct} distinct character(s) of this casebook are in no font of this PDF (U+6539" in text
    assert "fonts-wqy-microhei" in text
