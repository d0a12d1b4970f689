"""A subject's casebook for inspectors: the clinical record, its audit entries and its e-signatures, as JSON,
CSV and PDF (21 CFR 11.10(b): "accurate and complete copies of records in both human readable and electronic
form suitable for inspection"; 11.10(c),(e); 11.50; trial-system-requirements A8, C1, G18).

Nothing here reads the database itself: the casebook is built from the read services
(:func:`~trialtwin.services.records.get_clinical_record`, :func:`~trialtwin.services.subjects.get_screening`,
:func:`~trialtwin.services.browse.audit_entries`, :func:`~trialtwin.services.signatures.list_signatures`) and
only rendered here.

**JSON** (:func:`casebook_json`, schema tag :data:`SCHEMA`): ``{"schema", "exported_at", "subject", "record",
"signatures", "audit"}``.

* ``record``: the clinical record as the service returns it (dates ISO 8601, timestamps UTC).
* ``signatures``: one object per signature with its manifestation (printed name, ``signed_at`` in UTC,
  meaning; 11.50(a)) and ``status`` (``valid``, or ``broken`` when the record changed after signing, 11.70).
* ``audit``: the subject's audit entries in chain order *exactly as stored*: ``seq``, ``at``, ``user_id``,
  ``action``, ``table``, ``record_id``, ``fields`` (comma-separated), ``old`` and ``new`` (the canonical JSON
  text that was hashed), ``reason``, ``prev_hash``, ``hash``; plus ``user_name`` (not hashed) and
  ``concealed``. An entry holding values no service user may see (the allocation's block and the
  randomization state, ICH E9 §2.3; ``trialtwin.services.browse.HIDDEN_FIELDS``) carries them as
  ``"[concealed]"`` and ``concealed: true``: its own hash cannot be recomputed, its links still can. So does
  an entry whose value a later redaction masks (``"[redacted]"``; ``trialtwin.services.redaction``).

  :func:`verify_casebook` recomputes every other entry's SHA-256 and checks ``prev_hash`` wherever two
  entries are consecutive in the chain (a subject's entries are a subsequence of the study's chain, so the
  link to an entry of another subject is checked by the whole-chain verification, not here).
  :func:`rebuild_rows` replays the entries (``trialtwin.store.audit.replay_entries``, the same replay as
  requirement A2's) and :func:`record_mismatches` compares the rebuilt rows with the ``record`` of the same
  document: "reimporting the JSON rebuilds the record".

**CSV** (:func:`casebook_csv`): one file, one header row, columns :data:`CSV_COLUMNS`; a ``kind`` column
says what a row is: ``signature`` rows first (printed name, ``time_utc``, meaning, status), then one
``record`` row per field of the record (``table`` = record section, ``record_id``, ``fields`` = field name,
``new`` = value), then one ``audit`` row per audit entry as stored. Text cells that a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR and not a number) get a leading ``'``
(OWASP "CSV Injection").

**PDF** (:func:`casebook_pdf`, fpdf2): title, subject header, signature block (printed name, UTC date-time,
meaning, status), the record's sections, and a table of the audit entries.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from trialtwin.services.browse import CONCEALED, HIDDEN_FIELDS, HIDDEN_TABLES, audit_entries
from trialtwin.services.errors import ServiceError
from trialtwin.services.records import ClinicalRecordView, get_clinical_record
from trialtwin.services.signatures import SignatureView, list_signatures
from trialtwin.services.subjects import get_screening
from trialtwin.store.audit import AuditEntry, canonical_json, replay_entries, timestamp_text, to_jsonable

SCHEMA = "trialtwin.casebook/1"
FORMATS = ("json", "csv", "pdf")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
CSV_COLUMNS = (
    "kind",
    "seq",
    "time_utc",
    "user",
    "printed_name",
    "meaning",
    "status",
    "action",
    "table",
    "record_id",
    "fields",
    "old",
    "new",
    "reason",
    "prev_hash",
    "hash",
)
_PAGE = 1000


class CasebookError(ServiceError):
    """A casebook document that cannot be read (not this schema, or malformed)."""


@dataclass(frozen=True, slots=True)
class Casebook:
    """What a casebook export holds (see the module docstring)."""

    study_id: str
    screening_id: str
    site: str
    status: str
    subject_number: str | None
    registered_at: dt.datetime
    exported_at: dt.datetime
    record: ClinicalRecordView
    signatures: tuple[SignatureView, ...]
    audit: tuple[dict[str, Any], ...]


def _is_concealed(table: str, fields: list[str]) -> bool:
    return table in HIDDEN_TABLES or bool(HIDDEN_FIELDS.get(table, frozenset()) & set(fields))


def _stored(value: Any) -> str | None:
    """The stored text of a parsed audit value (stored values are canonical JSON, so this is the same text)."""
    return None if value is None else canonical_json(value)


def _audit(db: Any, study_id: str, screening_id: str) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        page = audit_entries(db, study_id, screening_id=screening_id, after=after, limit=_PAGE)
        for e in page:
            yield {
                "seq": e["seq"],
                "at": timestamp_text(e["at"]),
                "user_id": e["user_id"],
                "user_name": e["user_name"],
                "action": e["action"],
                "table": e["table"],
                "record_id": e["record_id"],
                "fields": ",".join(e["fields"]),
                "old": _stored(e["old"]),
                "new": _stored(e["new"]),
                "reason": e["reason"],
                "prev_hash": e["prev_hash"],
                "hash": e["hash"],
                "concealed": _is_concealed(e["table"], e["fields"]) or bool(e.get("redacted")),
            }
        if len(page) < _PAGE:
            return
        after = page[-1]["seq"]


def build_casebook(db: Any, study_id: str, screening_id: str, *, now: dt.datetime) -> Casebook:
    """The subject's casebook at ``now`` (the server clock, UTC). ``RecordNotFound`` for an unknown subject;
    the caller applies the access policy (site isolation) first."""
    screening = get_screening(db, study_id, screening_id)
    return Casebook(
        study_id,
        screening_id,
        screening.site,
        str(screening.status),
        screening.subject_number,
        screening.registered_at,
        now,
        get_clinical_record(db, study_id, screening_id),
        tuple(list_signatures(db, study_id, screening_id)),
        tuple(_audit(db, study_id, screening_id)),
    )


# ---- JSON -------------------------------------------------------------------------------------------------------


def _signature(s: SignatureView) -> dict[str, Any]:
    return {
        "id": s.id,
        "scope": s.scope,
        "visit_id": s.visit_id,
        "username": s.username,
        "printed_name": s.printed_name,
        "signed_at": timestamp_text(s.signed_at),
        "meaning": s.meaning,
        "status": s.status,
        "content_sha256": s.content_sha256,
        "manifestation": s.manifestation,
    }


def casebook_document(book: Casebook) -> dict[str, Any]:
    """The JSON document (see the module docstring) as data."""
    return {
        "schema": SCHEMA,
        "exported_at": timestamp_text(book.exported_at),
        "subject": {
            "study_id": book.study_id,
            "screening_id": book.screening_id,
            "site": book.site,
            "status": book.status,
            "subject_number": book.subject_number,
            "registered_at": timestamp_text(book.registered_at),
        },
        "record": to_jsonable(dataclasses.asdict(book.record)),
        "signatures": [_signature(s) for s in book.signatures],
        "audit": [dict(e) for e in book.audit],
    }


def casebook_json(book: Casebook) -> bytes:
    """The JSON document as UTF-8 bytes (indented for reading)."""
    return (json.dumps(casebook_document(book), indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _document(data: Any) -> Mapping[str, Any]:
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise CasebookError(f"not JSON: {exc.msg}") from None
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        raise CasebookError(f"not a casebook document (schema {SCHEMA!r})")
    if not isinstance(data.get("audit"), list) or not isinstance(data.get("record"), Mapping):
        raise CasebookError("a casebook document needs 'audit' (a list) and 'record' (an object)")
    return data


def _entries(doc: Mapping[str, Any]) -> list[tuple[AuditEntry, bool]]:
    out = []
    for i, e in enumerate(doc["audit"]):
        try:
            entry = AuditEntry(
                seq=e["seq"],
                at=e["at"],
                user_id=e["user_id"],
                action=e["action"],
                table_name=e["table"],
                record_id=e["record_id"],
                fields=e["fields"],
                old_value=e["old"],
                new_value=e["new"],
                reason=e["reason"],
                prev_hash=e["prev_hash"],
                hash=e["hash"],
            )
        except (KeyError, TypeError) as exc:
            raise CasebookError(f"audit entry {i}: missing {exc}") from None
        out.append((entry, bool(e.get("concealed", False))))
    return out


@dataclass(frozen=True, slots=True)
class SegmentReport:
    """Result of :func:`verify_casebook`: ``checked`` hashes recomputed, ``links`` checked between consecutive
    entries, ``concealed`` entries whose own hash cannot be recomputed, and the ``problems`` found."""

    ok: bool
    entries: int
    checked: int
    links: int
    concealed: int
    problems: tuple[str, ...]


def verify_casebook(data: Any) -> SegmentReport:
    """Re-verify the audit entries of a casebook document (bytes, text or parsed): order, every entry's hash
    (``trialtwin.store.audit.AuditEntry.compute_hash``) and the links between consecutive entries."""
    entries = _entries(_document(data))
    problems: list[str] = []
    checked = links = concealed = 0
    previous: AuditEntry | None = None
    for entry, hidden in entries:
        if previous is not None:
            if entry.seq <= previous.seq:
                problems.append(f"entry {entry.seq}: out of order after entry {previous.seq}")
            elif entry.seq == previous.seq + 1:
                links += 1
                if entry.prev_hash != previous.hash:
                    problems.append(f"entry {entry.seq}: its previous-hash does not match entry {previous.seq}")
        if hidden:
            concealed += 1
        else:
            checked += 1
            if entry.compute_hash() != entry.hash:
                problems.append(f"entry {entry.seq}: its content does not match its hash (edited)")
        previous = entry
    return SegmentReport(not problems, len(entries), checked, links, concealed, tuple(problems))


def rebuild_rows(data: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Replay the document's audit entries: ``table → record id → values`` after each record's last entry
    (``trialtwin.store.audit.replay_entries``); concealed values read ``"[concealed]"``."""
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for (table, rid), values in replay_entries(e for e, _ in _entries(_document(data))).items():
        rows.setdefault(table, {})[rid] = values
    return rows


#: record section → (table, {record field: column}) for the comparison of :func:`record_mismatches`.
_SECTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "baseline": ("subject_baselines", {"weight_kg": "weight_kg", "height_cm": "height_cm", "ecog": "ecog"}),
    "visits": (
        "visits",
        {"visit": "visit", "visit_date": "date", "cycle": "cycle", "day": "cycle_day", "weight_kg": "weight_kg"},
    ),
    "administrations": (
        "exposure",
        {
            "date": "date",
            "cycle": "cycle",
            "day": "cycle_day",
            "drug": "drug",
            "regimen": "regimen",
            "action": "action",
            "level": "dose_level",
            "dose": "dose",
            "unit": "unit",
            "percent": "percent",
            "dose_mg": "dose_mg",
            "visit_id": "visit_id",
        },
    ),
    "labs": (
        "labs",
        {
            k: k
            for k in (
                "date",
                "test",
                "value",
                "unit",
                "grade",
                "entered_value",
                "entered_unit",
                "lln",
                "uln",
                "visit_id",
            )
        },
    ),
    "adverse_events": (
        "adverse_events",
        {
            "term": "term",
            "grade": "grade",
            "onset": "start_date",
            "resolution": "end_date",
            "serious": "serious",
            "related": "related",
            "cycle": "cycle",
            "cycle_day": "cycle_day",
            "febrile": "febrile",
            "infection": "infection",
            "controlled": "controlled",
            "duration_days": "duration_days",
            "lab_value": "lab_value",
        },
    ),
    "disposition": ("disposition", {"event": "event", "date": "date", "reason": "reason"}),
    "death": ("deaths", {"date": "date", "cause": "cause"}),
    "survival_contacts": ("survival_followup", {"date": "date", "status": "status"}),
    "lesions": (
        "lesions",
        {
            "lesion_id": "lesion_id",
            "kind": "kind",
            "organ": "organ",
            "nodal": "nodal",
            "diameter_mm": "diameter_mm",
            "status": "status",
        },
    ),
    "responses": (
        "responses",
        {
            "target": "target",
            "non_target": "non_target",
            "new_lesions": "new_lesions",
            "overall": "overall",
            "sum_mm": "sum_mm",
            "pct_from_baseline": "pct_from_baseline",
        },
    ),
}


def _record_items(record: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """The record's items per section of :data:`_SECTIONS` (lesions and responses out of the assessments)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for section in _SECTIONS:
        value = record.get(section)
        if section == "visits":
            out[section] = [{**v, "id": v["visit_id"]} for v in value or []]
        elif section in ("lesions", "responses"):
            items: list[Mapping[str, Any]] = []
            for scans in (record.get("assessments") or {}).values():
                for scan in scans:
                    if section == "lesions":
                        items.extend(scan["lesions"])
                    elif scan.get("response"):
                        items.append(scan["response"])
            out[section] = items
        elif isinstance(value, Mapping):
            out[section] = [value]
        else:
            out[section] = list(value or [])
    return out


def record_mismatches(data: Any) -> tuple[int, list[str]]:
    """Compare the record of a casebook document with the rows rebuilt from its audit entries: every item of
    every section must be a rebuilt row with the same values, and every rebuilt row of those tables must be in
    the record (nothing missing, nothing extra). Returns ``(values compared, problems)``."""
    doc = _document(data)
    rows = rebuild_rows(doc)
    record = doc["record"]
    problems: list[str] = []
    compared = 0
    for section, items in _record_items(record).items():
        table, columns = _SECTIONS[section]
        rebuilt = rows.get(table, {})
        seen = set()
        for item in items:
            rid = str(item["id"])
            seen.add(rid)
            row = rebuilt.get(rid)
            if row is None:
                problems.append(f"{section} {rid}: no audit entry creates {table} {rid}")
                continue
            for field, column in columns.items():
                compared += 1
                if item.get(field) != row.get(column):
                    problems.append(
                        f"{section} {rid}.{field}: record {item.get(field)!r}, audit replay {row.get(column)!r}"
                    )
        for rid in sorted(set(rebuilt) - seen):
            problems.append(f"{table} {rid}: in the audit entries but not in the record's {section}")
    ledger = list(rows.get("randomization_ledger", {}).values())
    subject_rows = list(rows.get("subjects", {}).values())
    if record.get("arm") is not None or ledger:
        compared += 1
        if [r.get("arm") for r in ledger] != [record.get("arm")]:
            problems.append(f"arm: record {record.get('arm')!r}, audit replay {[r.get('arm') for r in ledger]}")
    if subject_rows:
        compared += 1
        if subject_rows[0].get("subject_number") != record.get("subject_number"):
            problems.append(
                f"subject_number: record {record.get('subject_number')!r}, "
                f"audit replay {subject_rows[0].get('subject_number')!r}"
            )
    return compared, problems


# ---- CSV --------------------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = canonical_json(value)
    text = str(value)
    if text and text[0] in "=+-@\t\r" and not _NUMBER.match(text):
        return "'" + text  # OWASP CSV Injection: a spreadsheet must not run it as a formula
    return text


def _record_rows(record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("subject_number", "arm", "randomized_on"):
        yield {"kind": "record", "table": "subject", "fields": key, "new": record.get(key)}
    for section, items in _record_items(record).items():
        _, columns = _SECTIONS[section]
        for item in items:
            for field in columns:
                yield {"kind": "record", "table": section, "record_id": item["id"], "fields": field, "new": item[field]}
    for visit in record.get("visits") or []:
        for field in ("action", "previous_level", "level", "reason", "source"):
            yield {
                "kind": "record",
                "table": "visits",
                "record_id": visit["visit_id"],
                "fields": field,
                "new": visit[field],
            }


def casebook_csv(book: Casebook) -> bytes:
    """The CSV (see the module docstring), UTF-8 with a byte-order mark so spreadsheets read it as UTF-8."""
    doc = casebook_document(book)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    rows: list[dict[str, Any]] = []
    for s in doc["signatures"]:
        rows.append(
            {
                "kind": "signature",
                "time_utc": s["signed_at"],
                "user": s["username"],
                "printed_name": s["printed_name"],
                "meaning": s["meaning"],
                "status": s["status"],
                "action": "sign",
                "table": s["scope"],
                "record_id": s["id"] if s["visit_id"] is None else f"{s['id']} (visit {s['visit_id']})",
                "hash": s["content_sha256"],
            }
        )
    rows.extend(_record_rows(doc["record"]))
    for e in doc["audit"]:
        rows.append(
            {
                "kind": "audit",
                "seq": e["seq"],
                "time_utc": e["at"],
                "user": e["user_id"],
                "printed_name": e["user_name"],
                "status": "concealed" if e["concealed"] else "",
                "action": e["action"],
                "table": e["table"],
                "record_id": e["record_id"],
                "fields": e["fields"],
                "old": e["old"],
                "new": e["new"],
                "reason": e["reason"],
                "prev_hash": e["prev_hash"],
                "hash": e["hash"],
            }
        )
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# ---- PDF --------------------------------------------------------------------------------------------------------


def _font_dir() -> Path | None:
    """DejaVu Sans (Unicode) as shipped with matplotlib, a runtime dependency; ``None`` when absent."""
    spec = find_spec("matplotlib")
    for base in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(base) / "mpl-data" / "fonts" / "ttf"
        if (path / "DejaVuSans.ttf").is_file() and (path / "DejaVuSans-Bold.ttf").is_file():
            return path
    return None  # pragma: no cover - matplotlib is a dependency


#: Fonts for Chinese (simplified and traditional) and Korean text, looked for in this order (Debian paths):
#: EVER-132-002's sites are in China, South Korea and Taiwan, so a free-text value (an adverse event's term as
#: typed, a disposition detail) may be in either script, and DejaVu Sans has no CJK glyphs. ``make test``
#: installs fonts-wqy-microhei; ``$TRIALTWIN_CJK_FONT`` names another TrueType file or collection.
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def _cjk_font() -> Path | None:
    """The first CJK font found (``$TRIALTWIN_CJK_FONT`` first, then :data:`CJK_FONTS`); ``None`` if none."""
    for candidate in (os.environ.get("TRIALTWIN_CJK_FONT"), *CJK_FONTS):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


@functools.lru_cache(maxsize=8)
def _characters(path: Path) -> frozenset[int]:
    """The code points a font file (the first font of a collection) has glyphs for."""
    from fontTools.ttLib import TTCollection, TTFont

    font = TTCollection(str(path)).fonts[0] if path.suffix.lower() in (".ttc", ".otc") else TTFont(str(path))
    return frozenset(font.getBestCmap() or {})


def _undrawable(text: str, fonts: list[Path]) -> list[str]:
    """The distinct characters of ``text`` that none of ``fonts`` can draw (white space aside), in order."""
    covered = [_characters(path) for path in fonts]
    missing: dict[str, None] = {}
    for ch in text:
        if not ch.isspace() and not any(ord(ch) in c for c in covered):
            missing[ch] = None
    return list(missing)


def _utc(value: str | None) -> str:
    """``2025-03-03T09:00:00.000000+00:00`` → ``2025-03-03 09:00:00 UTC``."""
    if not value:
        return ""
    return f"{dt.datetime.fromisoformat(value).astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"


def _short(text: str | None, limit: int = 300) -> str:
    if text is None:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def casebook_pdf(book: Casebook) -> bytes:
    """The PDF (see the module docstring)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    doc = casebook_document(book)
    subject = doc["subject"]
    record = doc["record"]
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(f"Casebook {subject['study_id']} {subject['screening_id']}")
    pdf.set_creator("trialtwin")
    fonts = _font_dir()
    family = "Helvetica"
    drawn: list[Path] = []
    if fonts is not None:
        pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
        pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
        family = "DejaVu"
        drawn.append(fonts / "DejaVuSans.ttf")
        cjk = _cjk_font()
        if cjk is not None:
            pdf.add_font("CJK", "", str(cjk))
            pdf.set_fallback_fonts(["CJK"], exact_match=False)  # bold CJK text in the regular face
            drawn.append(cjk)
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.alias_nb_pages()
    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 12) -> None:
        pdf.ln(2)
        pdf.set_font(family, "B", size)
        pdf.multi_cell(width, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, "", 9)

    def line(text: str) -> None:
        pdf.multi_cell(width, 5, text, new_x="LMARGIN", new_y="NEXT")

    def table(header: tuple[str, ...], rows: list[tuple[Any, ...]], widths: tuple[int, ...] | None = None) -> None:
        if not rows:
            line("None recorded.")
            return
        pdf.set_font(family, "", 7.5)
        with pdf.table(
            col_widths=widths, headings_style=FontFace(emphasis="BOLD"), line_height=4, text_align="LEFT"
        ) as t:
            t.row([str(h) for h in header])
            for r in rows:
                t.row(["" if v is None else str(v) for v in r])
        pdf.set_font(family, "", 9)

    pdf.set_font(family, "B", 16)
    line(f"Casebook — {subject['study_id']} — subject {subject['screening_id']}")
    pdf.set_font(family, "", 9)
    line(
        f"Site {subject['site']} · status {subject['status']} · subject number {subject['subject_number'] or '—'}"
        f" · arm {record.get('arm') or '—'} · randomized on {record.get('randomized_on') or '—'}"
    )
    line(
        f"Registered {_utc(subject['registered_at'])} · exported {_utc(doc['exported_at'])} · "
        f"{len(doc['audit'])} audit entries · document {SCHEMA}"
    )
    missing = _undrawable(json.dumps(doc, ensure_ascii=False), drawn) if drawn else []
    if missing:
        points = ", ".join(f"U+{ord(ch):04X}" for ch in missing[:8]) + (" …" if len(missing) > 8 else "")
        line(
            f"{len(missing)} distinct character(s) of this casebook are in no font of this PDF ({points}) and "
            "print as blanks here; the CSV and JSON exports hold them exactly. Install a CJK font "
            "(Debian: fonts-wqy-microhei) or set TRIALTWIN_CJK_FONT."
        )

    heading("Electronic signatures (21 CFR 11.50)")
    if not doc["signatures"]:
        line("Not signed.")
    for s in doc["signatures"]:
        pdf.set_font(family, "B", 10)
        line(f"{s['printed_name']} — {_utc(s['signed_at'])} — {s['meaning']}")
        pdf.set_font(family, "", 9)
        scope = "casebook" if s["visit_id"] is None else f"visit {s['visit_id']}"
        status = s["status"]
        note = " (the record changed after signing; the investigator signs again)" if status == "broken" else ""
        line(f"Signature {s['id']}: {scope}, user {s['username']}, status {status}{note}")

    heading("Clinical record")
    base = record.get("baseline")
    if base:
        line(f"Baseline: {base['weight_kg']} kg, {base['height_cm']} cm, ECOG {base['ecog']}")
    heading("Dosing visits", 10)
    table(
        ("Visit", "Date", "Decision", "Level", "Dose", "Dose (mg)", "Rule applied", "Source"),
        [
            (
                v["visit"],
                v["visit_date"],
                v["action"],
                f"{v['previous_level']} → {v['level']}",
                f"{v['dose']} {v['unit'] or ''}".strip() if v["dose"] is not None else "",
                v["dose_mg"],
                v["reason"] or ("no modification needed" if v["action"] else ""),
                v["source"],
            )
            for v in record.get("visits") or []
        ],
        (14, 14, 12, 8, 12, 10, 60, 30),
    )
    heading("Laboratory results", 10)
    table(
        ("Date", "Test", "Value", "Unit", "CTCAE grade", "As entered", "Visit"),
        [
            (
                lab["date"],
                lab["test"],
                lab["value"],
                lab["unit"],
                lab["grade"],
                f"{lab['entered_value']} {lab['entered_unit'] or ''}" if lab["entered_value"] is not None else "",
                lab["visit_id"],
            )
            for lab in record.get("labs") or []
        ],
    )
    heading("Tumour assessments (RECIST 1.1)", 10)
    table(
        ("Reader", "Date", "Overall", "Target", "Non-target", "Sum (mm)", "Lesions"),
        [
            (
                reader,
                a["date"],
                (a["response"] or {}).get("overall", "baseline" if a["baseline"] else ""),
                (a["response"] or {}).get("target"),
                (a["response"] or {}).get("non_target"),
                a["sum_mm"],
                "; ".join(
                    f"{x['lesion_id']} {x['kind']} {x['organ']}: "
                    f"{x['diameter_mm'] if x['diameter_mm'] is not None else (x['status'] or '')}"
                    for x in a["lesions"]
                ),
            )
            for reader, scans in (record.get("assessments") or {}).items()
            for a in scans
        ],
        (12, 12, 10, 10, 10, 10, 80),
    )
    heading("Adverse events", 10)
    table(
        ("Term", "Grade", "Onset", "Resolved", "Serious", "Related"),
        [
            (e["term"], e["grade"], e["onset"], e["resolution"] or "ongoing", e["serious"], e["related"])
            for e in record.get("adverse_events") or []
        ],
    )
    heading("Disposition, death, survival", 10)
    rows: list[tuple[Any, ...]] = [
        (d["event"], d["date"], d["reason"], d["detail"]) for d in record.get("disposition") or []
    ]
    if record.get("death"):
        rows.append(("death", record["death"]["date"], record["death"]["cause"], ""))
    rows.extend(("survival contact", c["date"], c["status"], "") for c in record.get("survival_contacts") or [])
    table(("Event", "Date", "Reason / status", "Detail"), rows)

    pdf.add_page()
    heading("Audit trail (21 CFR 11.10(e))")
    line(
        "Every create and change of the subject's records, in chain order: who, when (UTC), what (old and new "
        "values), why. The JSON export holds the entries exactly as stored, with their hashes."
    )
    table(
        ("Seq", "Time (UTC)", "User", "Action", "Record", "Old", "New", "Reason", "Hash"),
        [
            (
                e["seq"],
                _utc(e["at"]),
                f"{e['user_name'] or ''} ({e['user_id']})",
                e["action"],
                f"{e['table']} {e['record_id']}",
                _short(e["old"]),
                _short(e["new"]) + (" [concealed values]" if e["concealed"] else ""),
                e["reason"],
                e["hash"][:16] + "…",
            )
            for e in doc["audit"]
        ],
        (8, 22, 20, 11, 20, 45, 70, 30, 20),
    )
    pdf.set_font(family, "", 7)
    line(f"Concealed values read {CONCEALED!r} (allocation concealment, ICH E9 §2.3).")
    return bytes(pdf.output())


def render(book: Casebook, fmt: str) -> bytes:
    """The casebook in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return casebook_json(book)
    if fmt == "csv":
        return casebook_csv(book)
    if fmt == "pdf":
        return casebook_pdf(book)
    raise CasebookError(f"format must be one of {', '.join(FORMATS)} (got {fmt!r})")


def filename(book: Casebook, fmt: str) -> str:
    """``casebook_<study>_<screening id>_<UTC time>.<fmt>`` with only safe characters."""
    stem = f"casebook_{book.study_id}_{book.screening_id}_{book.exported_at.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) + f".{fmt}"
