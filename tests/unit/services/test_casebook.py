"""The casebook export (trial-system-requirements A8, C1; 21 CFR 11.10(b),(e), 11.50): the JSON document holds
the subject's audit entries exactly as stored, so their hashes re-verify and replaying them rebuilds the record
in the same document; the CSV and the PDF carry the signature manifestation.

Reference values come from the inputs of the test (the lab value and CTCAE grade entered, the corrected lesion
diameter) and from the hash definition of ``trialtwin.store.audit`` (SHA-256 of the canonical JSON payload)."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _clinical_cases import D0, later, sg_subject, visit
from _trial import PASSWORD, Trial, build_trial, trial_on
from pypdf import PdfReader
from sqlalchemy import select

from trialtwin.services import (
    AdverseEventIn,
    TargetMeasurement,
    TumourAssessmentIn,
    correct_record,
    record_adverse_event,
    record_end_of_treatment,
    record_tumour_assessment,
)
from trialtwin.services.browse import audit_entries
from trialtwin.services.casebook import (
    CSV_COLUMNS,
    SCHEMA,
    CasebookError,
    _cell,
    build_casebook,
    casebook_csv,
    casebook_json,
    casebook_pdf,
    filename,
    rebuild_rows,
    record_mismatches,
    verify_casebook,
)
from trialtwin.services.clinical_common import FieldError
from trialtwin.services.errors import PermissionDenied
from trialtwin.services.redaction import redact_value
from trialtwin.services.signatures import sign
from trialtwin.store import Database
from trialtwin.store.audit import verify_chain
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import AuditLog

NOW = dt.datetime(2025, 9, 1, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def trial(tmp_path: Path) -> Iterator[Trial]:
    db = Database(f"sqlite:///{tmp_path / 'casebook.db'}")
    upgrade(db)
    ids = build_trial(db)
    yield trial_on(db, ids)
    db.dispose()


def _scan(trial: Trial, sid: str, clock: object, when: dt.date, t1: float, t2: float) -> object:
    targets = (TargetMeasurement("T1", "liver", False, t1), TargetMeasurement("T2", "lung", False, t2))
    return record_tumour_assessment(
        trial.db,
        trial.study,
        sid,
        TumourAssessmentIn(when, "investigator", targets),
        actor=trial.investigator,
        clock=clock,
    )


def _rich_subject(trial: Trial) -> str:
    """Randomized to SG: baseline, a dosing visit with labs, two scans, a corrected lesion, an AE, end of
    treatment; then signed by the investigator."""
    clock = later(120)
    sid = sg_subject(trial, clock)
    visit(trial, sid, clock, 1, 1, D0, labs={"anc": 1.6, "platelets": 220.0})
    _scan(trial, sid, clock, D0 - dt.timedelta(days=3), 40, 20)
    _scan(trial, sid, clock, D0 + dt.timedelta(days=42), 30, 20)
    record_adverse_event(
        trial.db,
        trial.study,
        sid,
        AdverseEventIn("nausea", D0 + dt.timedelta(days=2), grade=2),
        actor=trial.investigator,
        clock=clock,
    )
    lesion = build_casebook(trial.db, trial.study, sid, now=NOW).record.assessments["investigator"][1].targets[0]
    correct_record(
        trial.db,
        trial.study,
        sid,
        "lesions",
        lesion.id,
        {"diameter_mm": 17.0},
        reason="transcription error",
        actor=trial.investigator,
        clock=clock,
    )
    record_end_of_treatment(
        trial.db, trial.study, sid, D0 + dt.timedelta(days=50), "progression", actor=trial.investigator, clock=clock
    )
    sign(
        trial.db,
        trial.study,
        sid,
        meaning="review",
        password=PASSWORD,
        username="ivan",
        actor=trial.investigator,
        clock=clock,
    )
    return sid


def test_the_json_rebuilds_the_record_and_its_audit_entries_verify(trial: Trial) -> None:
    sid = _rich_subject(trial)
    book = build_casebook(trial.db, trial.study, sid, now=NOW)
    doc = json.loads(casebook_json(book))
    assert doc["schema"] == SCHEMA and doc["subject"]["screening_id"] == sid
    assert doc["exported_at"] == "2025-09-01T12:30:00.000000+00:00"
    # reimporting the JSON rebuilds the record (A8): every value of every section, nothing missing or extra
    compared, problems = record_mismatches(doc)
    assert problems == []
    assert compared > 60
    rows = rebuild_rows(doc)
    labs = {r["test"]: (r["value"], r["grade"]) for r in rows["labs"].values()}
    assert labs == {"anc": (1.6, 1), "platelets": (220.0, 0)}  # the values entered; CTCAE v5.0: 1.6 < LLN 1.8
    assert 17.0 in [r["diameter_mm"] for r in rows["lesions"].values()]  # the corrected value, not 30
    assert [r["term"] for r in rows["adverse_events"].values()] == ["Nausea"]  # stored as the CTCAE v5.0 term
    # the included entries re-verify (hash of each entry, links of consecutive entries)
    report = verify_casebook(doc)
    assert report.ok, report.problems
    assert report.entries == len(doc["audit"]) and report.checked == report.entries - report.concealed
    assert report.concealed == 1  # the allocation (block details concealed, ICH E9 §2.3)
    assert report.links > 0
    corrections = [e for e in doc["audit"] if e["action"] == "update" and e["table"] == "lesions"]
    assert [(json.loads(e["old"]), json.loads(e["new"]), e["reason"]) for e in corrections] == [
        ({"diameter_mm": 30.0}, {"diameter_mm": 17.0}, "transcription error")
    ]
    assert [(s["printed_name"], s["meaning"], s["status"]) for s in doc["signatures"]] == [
        ("Ivan Investigator", "review", "valid")
    ]


def test_tampering_with_the_json_is_detected(trial: Trial) -> None:
    sid = _rich_subject(trial)
    doc = json.loads(casebook_json(build_casebook(trial.db, trial.study, sid, now=NOW)))
    # an edited audit value: its hash no longer matches
    edited = copy.deepcopy(doc)
    lab = next(e for e in edited["audit"] if e["table"] == "labs")
    lab["new"] = lab["new"].replace('"value":1.6', '"value":2.6')
    assert '"value":2.6' in lab["new"]
    assert any(f"entry {lab['seq']}: its content does not match" in p for p in verify_casebook(edited).problems)
    # an edited value with a recomputed hash: the next entry's link breaks
    relinked = copy.deepcopy(doc)
    entries = relinked["audit"]
    i = next(i for i in range(len(entries) - 1) if entries[i + 1]["seq"] == entries[i]["seq"] + 1)
    entries[i]["reason"] = "forged"
    from trialtwin.services.casebook import _entries

    entries[i]["hash"] = _entries(relinked)[i][0].compute_hash()
    problems = verify_casebook(relinked).problems
    assert problems == (f"entry {entries[i + 1]['seq']}: its previous-hash does not match entry {entries[i]['seq']}",)
    # a record value that the audit trail does not support
    changed = copy.deepcopy(doc)
    changed["record"]["labs"][0]["value"] = 99.0
    assert any(".value: record 99.0" in p for p in record_mismatches(changed)[1])
    with pytest.raises(CasebookError, match="schema"):
        verify_casebook({"schema": "something/1", "audit": [], "record": {}})


def test_csv_has_one_row_per_signature_record_field_and_audit_entry(trial: Trial) -> None:
    sid = _rich_subject(trial)
    book = build_casebook(trial.db, trial.study, sid, now=NOW)
    data = casebook_csv(book)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    kinds = [r["kind"] for r in rows]
    assert kinds.count("audit") == len(book.audit) and kinds.count("signature") == 1
    (signature,) = [r for r in rows if r["kind"] == "signature"]
    signed_at = book.signatures[0].signed_at
    assert (signature["printed_name"], signature["meaning"], signature["status"]) == (
        "Ivan Investigator",
        "review",
        "valid",
    )
    assert signature["time_utc"] == signed_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    assert [r["hash"] for r in rows if r["kind"] == "audit"] == [e["hash"] for e in book.audit]
    lab_values = {r["new"] for r in rows if r["kind"] == "record" and r["table"] == "labs" and r["fields"] == "value"}
    assert lab_values == {"1.6", "220.0"}
    assert filename(book, "csv") == f"casebook_{trial.study}_{sid}_20250901T123000Z.csv"


def test_spreadsheet_formulas_are_neutralised_but_numbers_kept() -> None:
    """OWASP "CSV Injection": a cell starting with = + - @ is prefixed with a quote unless it is a number."""
    assert _cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _cell("@SUM(A1)") == "'@SUM(A1)" and _cell("+1+2") == "'+1+2"
    assert _cell("-5.2") == "-5.2" and _cell(-5.2) == "-5.2" and _cell("1e-3") == "1e-3"
    assert _cell(None) == "" and _cell(True) == "true" and _cell({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_pdf_shows_the_subject_the_signature_manifestation_and_the_audit_table(trial: Trial) -> None:
    sid = _rich_subject(trial)
    book = build_casebook(trial.db, trial.study, sid, now=NOW)
    data = casebook_pdf(book)
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    signed = f"{book.signatures[0].signed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
    assert f"Casebook — {trial.study} — subject {sid}" in text
    assert f"Ivan Investigator — {signed} — review" in text
    assert "status valid" in text
    assert "Audit trail" in text and "transcription error" in text and "Nausea" in text
    assert reader.metadata is not None and reader.metadata.title == f"Casebook {trial.study} {sid}"


# ---- redaction (A5: "rare redactions ... are themselves logged with a justification") --------------------------

PII = "moved in with daughter Jane Doe, phone 555-0100"


def test_a_redaction_is_a_new_justified_entry_and_old_entries_stay_as_stored(trial: Trial) -> None:
    clock = later(120)
    sid = sg_subject(trial, clock)
    record_end_of_treatment(
        trial.db,
        trial.study,
        sid,
        D0 + dt.timedelta(days=10),
        "other",
        detail=PII,
        actor=trial.investigator,
        clock=clock,
    )
    with trial.db.read_session() as s:
        stored_before = {r.seq: (r.new_value, r.old_value, r.hash) for r in s.execute(select(AuditLog)).scalars()}
    (eot,) = build_casebook(trial.db, trial.study, sid, now=NOW).record.disposition
    justification = "relative's name and phone entered by mistake (site request 2025-07-02)"
    redact_value(
        trial.db,
        trial.study,
        sid,
        "disposition",
        eot.id,
        "detail",
        justification=justification,
        actor=trial.investigator,
        clock=clock,
    )
    with trial.db.read_session() as s:
        rows = list(s.execute(select(AuditLog).order_by(AuditLog.seq)).scalars())
        assert verify_chain(s).ok
    # nothing stored before was altered; exactly one entry was added, with the justification and no PII
    assert {r.seq: (r.new_value, r.old_value, r.hash) for r in rows[:-1]} == stored_before
    last = rows[-1]
    assert (last.action, last.table_name, last.record_id, last.user_id) == (
        "update",
        "disposition",
        str(eot.id),
        trial.investigator,
    )
    assert last.reason == f"redaction: {justification}"
    assert json.loads(last.old_value or "null") == {"detail": "[redacted]"}
    assert json.loads(last.new_value) == {"detail": "[redacted]"}
    assert "Jane Doe" in "".join(r.new_value for r in rows)  # still stored (the chain is not rewritten) ...
    shown = audit_entries(trial.db, trial.study, screening_id=sid, limit=1000)
    assert "Jane Doe" not in json.dumps(shown, default=str)  # ... but no longer shown
    assert [e["seq"] for e in shown if e["redacted"]] == [r.seq for r in rows if "Jane Doe" in r.new_value]
    # the casebook: no PII, its entries verify (the masked one as concealed) and it rebuilds the record
    data = casebook_json(build_casebook(trial.db, trial.study, sid, now=NOW))
    assert b"Jane Doe" not in data
    doc = json.loads(data)
    report = verify_casebook(doc)
    assert report.ok and report.concealed == 2, report  # the allocation and the masked creation
    assert record_mismatches(doc)[1] == []
    assert doc["record"]["disposition"][0]["detail"] == "[redacted]"


def test_a_redaction_needs_a_justification_a_free_text_field_and_site_staff(trial: Trial) -> None:
    clock = later(120)
    sid = sg_subject(trial, clock)
    record_end_of_treatment(trial.db, trial.study, sid, D0, "other", detail=PII, actor=trial.investigator, clock=clock)
    (eot,) = build_casebook(trial.db, trial.study, sid, now=NOW).record.disposition

    def redact(field: str = "detail", actor: int = trial.investigator, **kw: object) -> object:
        args: dict[str, object] = {"justification": "PII entered by mistake", **kw}
        return redact_value(trial.db, trial.study, sid, "disposition", eot.id, field, actor=actor, clock=clock, **args)

    with pytest.raises(FieldError) as err:
        redact(justification="  ")
    assert err.value.field == "justification"
    with pytest.raises(FieldError) as err:
        redact(field="reason")
    assert err.value.field == "field"
    with pytest.raises(PermissionDenied):
        redact(actor=trial.monitor)
    with trial.db.read_session() as s:
        assert not s.execute(select(AuditLog).where(AuditLog.reason.startswith("redaction:"))).first()
