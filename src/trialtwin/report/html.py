"""The trial report as one self-contained HTML document (inline CSS, figures as inline SVG), plus the figures as
PNG and SVG bytes for separate files. No file I/O here: the CLI writes what :func:`render_report` returns.

Layout: a title block (study, NCT id, data cut-off, data source, arms and populations), a table of contents,
then one ``<section id=...>`` per entry of :data:`SECTIONS`; every table carries its own footnotes (methods from
the analysis results' ``footnote``), and the last section gathers the methods, the ADaM conventions and the
modelling assumptions of the protocol file.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

import trialtwin
from trialtwin.analysis.derive import response_assessors
from trialtwin.protocol.model import Protocol
from trialtwin.report._common import ArmStyle, arm_styles, figure_bytes, reference_arm
from trialtwin.report.plots import plot_consort, plot_forest, plot_km, plot_swimmer, plot_waterfall
from trialtwin.report.tables import (
    subgroup_hazard_ratios,
    table_baseline,
    table_disposition,
    table_dose_intensity,
    table_key_results,
    table_published_vs_trial,
    table_response,
    table_safety,
    table_tte,
)

#: Section ids and headings of the report, in order (every one is always present).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Key results"),
    ("disposition", "Patient disposition"),
    ("baseline", "Baseline characteristics"),
    ("efficacy", "Time-to-event endpoints"),
    ("subgroups", "Subgroup analysis"),
    ("response", "Tumour response"),
    ("treatment", "Time on treatment"),
    ("exposure", "Exposure and dose intensity"),
    ("safety", "Adverse events"),
    ("published", "Published results versus this trial"),
    ("methods", "Methods, conventions and assumptions"),
)

FIGURE_FORMATS = ("png", "svg")

_CSS = """
:root { --ink:#1f2328; --muted:#5b6570; --rule:#c9ced6; --soft:#f4f6f9; --accent:#0b4f8a; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
  color:var(--ink); background:#fff; }
main { max-width:1180px; margin:0 auto; padding:28px 36px 60px; }
header.title { border-bottom:3px solid var(--accent); padding-bottom:14px; margin-bottom:18px; }
header.title .kicker { text-transform:uppercase; letter-spacing:.08em; font-size:12px; color:var(--accent);
  font-weight:600; }
header.title h1 { font-size:24px; margin:4px 0 8px; line-height:1.25; }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:3px 18px; margin:10px 0 0; font-size:13px; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; }
.banner { background:#fff8e6; border:1px solid #f0d48a; padding:8px 12px; border-radius:4px; font-size:13px;
  margin:12px 0 0; }
nav.toc { background:var(--soft); border:1px solid var(--rule); border-radius:6px; padding:12px 18px;
  margin:18px 0 8px; }
nav.toc h2 { font-size:14px; margin:0 0 6px; border:0; padding:0; }
nav.toc ol { columns:2; margin:0; padding-left:22px; font-size:13.5px; }
nav.toc a { color:var(--accent); text-decoration:none; }
nav.toc a:hover { text-decoration:underline; }
section { margin-top:34px; }
h2 { font-size:19px; border-bottom:1px solid var(--rule); padding-bottom:5px; margin:0 0 14px; }
h3 { font-size:15.5px; margin:26px 0 8px; }
table.tlf { border-collapse:collapse; margin:6px 0 4px; font-size:13px; min-width:60%; }
table.tlf caption { caption-side:top; text-align:left; font-weight:600; font-size:14px; padding:0 0 6px; }
table.tlf thead th { border-top:2px solid var(--ink); border-bottom:1px solid var(--ink); padding:6px 12px;
  vertical-align:bottom; text-align:center; font-weight:600; }
table.tlf thead th.stub { text-align:left; }
table.tlf thead th .full { display:block; font-weight:400; color:var(--muted); font-size:11.5px; max-width:220px;
  margin:0 auto; }
table.tlf tbody td { padding:3px 12px; text-align:center; white-space:nowrap; }
table.tlf tbody td.stub { text-align:left; white-space:normal; min-width:260px; }
table.tlf tbody tr.section td.stub { font-weight:600; padding-top:8px; }
table.tlf tbody tr.item td.stub { padding-left:28px; }
table.tlf tbody tr:last-child td { border-bottom:2px solid var(--ink); }
table.tlf tbody tr:hover td { background:#f7f9fc; }
table.flat thead th { text-align:left; }
table.flat tbody td { text-align:left; white-space:normal; }
table.flat tbody td.value { white-space:nowrap; }
table.flat tbody td.yes { color:#1b7837; font-weight:600; }
table.flat tbody td.no { color:#b2182b; font-weight:600; }
ol.notes { margin:4px 0 10px; padding-left:20px; color:var(--muted); font-size:12px; max-width:1050px; }
figure { margin:14px 0 8px; }
figure svg { width:100%; height:auto; max-width:1050px; display:block; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:4px; max-width:1050px; }
p.lead { max-width:1000px; }
.na { color:var(--muted); font-style:italic; }
footer { margin-top:40px; border-top:1px solid var(--rule); padding-top:10px; color:var(--muted); font-size:12px; }
@media print { nav.toc { display:none; } section { page-break-before:always; } main { max-width:none; } }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# ---- tables ----------------------------------------------------------------------------------------------------


def _column_head(name: str, attrs: Mapping[Any, Any]) -> str:
    labels = attrs.get("column_labels", {})
    counts = attrs.get("column_n", {})
    full = labels.get(name)
    parts = [_e(name)]
    if full and full != name:
        parts.append(f'<span class="full">{_e(full)}</span>')
    if name in counts:
        parts.append(f'<span class="full">(N={int(counts[name])})</span>')
    return "".join(parts)


def render_table(frame: pd.DataFrame, *, table_id: str | None = None) -> str:
    """One table of :mod:`trialtwin.report.tables` as HTML: caption, header (arm, full label, N), section and
    item rows, then the numbered footnotes. Flat tables (no ``(section, row)`` index) show their columns only."""
    attrs = frame.attrs
    ident = f' id="{_e(table_id)}"' if table_id else ""
    hierarchical = isinstance(frame.index, pd.MultiIndex) and list(frame.index.names) == ["section", "row"]
    parts = [f'<table class="tlf{"" if hierarchical else " flat"}"{ident}>']
    if attrs.get("title"):
        parts.append(f"<caption>{_e(attrs['title'])}</caption>")
    parts.append("<thead>")
    if isinstance(frame.columns, pd.MultiIndex):
        top = list(dict.fromkeys(frame.columns.get_level_values(0)))
        span = len(frame.columns) // max(len(top), 1)
        parts.append('<tr><th class="stub" rowspan="2"></th>')
        parts += [f'<th colspan="{span}">{_column_head(str(t), attrs)}</th>' for t in top]
        parts.append("</tr><tr>")
        parts += [f"<th>{_e(c[1])}</th>" for c in frame.columns]
        parts.append("</tr>")
    else:
        stub = '<th class="stub"></th>' if hierarchical else ""
        heads = "".join(f"<th>{_column_head(str(c), attrs)}</th>" for c in frame.columns)
        parts.append(f"<tr>{stub}{heads}</tr>")
    parts.append("</thead><tbody>")
    if hierarchical:
        current: str | None = None
        for (section, row), values in zip(frame.index, frame.itertuples(index=False), strict=True):
            cells = "".join(f"<td>{_e(v)}</td>" for v in values)
            if section != current:
                current = section
                if row == "":
                    parts.append(f'<tr class="section"><td class="stub">{_e(section)}</td>{cells}</tr>')
                    continue
                empty = "".join("<td></td>" for _ in values)
                parts.append(f'<tr class="section"><td class="stub">{_e(section)}</td>{empty}</tr>')
            parts.append(f'<tr class="item"><td class="stub">{_e(row)}</td>{cells}</tr>')
    else:
        for values in frame.itertuples(index=False):
            row_cells: list[str] = []
            for column, value in zip(frame.columns, values, strict=True):
                klass = ""
                if column == "Published within CI" and value in ("yes", "no"):
                    klass = f' class="{value}"'
                elif column in ("Published", "This trial"):
                    klass = ' class="value"'
                row_cells.append(f"<td{klass}>{_e(value)}</td>")
            parts.append(f"<tr>{''.join(row_cells)}</tr>")
    parts.append("</tbody></table>")
    notes = [n for n in attrs.get("footnotes", []) if n]
    if notes:
        parts.append('<ol class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ol>")
    return "".join(parts)


# ---- figures ---------------------------------------------------------------------------------------------------


def _inline_svg(svg: bytes) -> str:
    text = svg.decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


class _Figures:
    """Renders figures once per format; keeps the bytes for files and the SVG for inlining."""

    def __init__(self, formats: Sequence[str]) -> None:
        self.formats = tuple(dict.fromkeys([*formats, "svg"]))
        self.keep = tuple(formats)
        self.files: dict[str, bytes] = {}

    def add(self, name: str, make: Callable[[], Figure], caption: str) -> str:
        fig = make()
        svg = b""
        for fmt in self.formats:
            data = figure_bytes(fig, fmt, salt=name)
            if fmt == "svg":
                svg = data
            if fmt in self.keep:
                self.files[f"{name}.{fmt}"] = data
        return f'<figure id="fig-{_e(name)}">{_inline_svg(svg)}<figcaption>{_e(caption)}</figcaption></figure>'


# ---- the report ------------------------------------------------------------------------------------------------


def _section(ident: str, heading: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{_e(heading)}</h2>{body}</section>'


def _not_available(what: str) -> str:
    return f'<p class="na">{_e(what)}</p>'


def render_report(
    adam: Mapping[str, pd.DataFrame],
    frames: Mapping[str, pd.DataFrame],
    protocol: Protocol,
    *,
    cutoff: dt.date,
    source: str = "",
    figure_formats: Sequence[str] = FIGURE_FORMATS,
) -> tuple[str, dict[str, bytes]]:
    """The whole report: ``(html, figures)`` where ``html`` is one self-contained document (CSS inline, figures
    as inline SVG) and ``figures`` maps ``<name>.<format>`` to the figure files' bytes.

    ``adam``: ``{"ADSL", "ADTTE", "ADRS", "ADAE"}`` from :func:`trialtwin.analysis.derive.derive_all`;
    ``frames``: the validated analysis frames (screening, best_response and exposure are used); ``source``: where
    the data come from (shown in the title block). Output is deterministic: same input, same bytes.
    """
    adsl = adam["ADSL"]
    arms = arm_styles(adsl, protocol)
    figs = _Figures(figure_formats)
    assessors = response_assessors(frames, protocol) if "responses" in frames else ("BICR",)
    primary_assessor = "BICR" if "BICR" in assessors else (assessors[0] if assessors else "investigator")
    body: dict[str, str] = {}
    methods: list[str] = []

    def collect(frame: pd.DataFrame) -> pd.DataFrame:
        methods.extend(frame.attrs.get("footnotes", []))
        return frame

    body["summary"] = render_table(collect(table_key_results(adam, arms=arms, assessor=primary_assessor)))

    # disposition
    parts = []
    if "screening" in frames:
        parts.append(
            figs.add(
                "consort",
                lambda: plot_consort(frames["screening"], adsl, arms=arms, protocol=protocol),
                "Figure 1. CONSORT flow diagram. Screen failures are counted under every criterion they failed.",
            )
        )
    parts.append(render_table(collect(table_disposition(adsl, arms=arms)), table_id="table-disposition"))
    body["disposition"] = "".join(parts)

    body["baseline"] = render_table(
        collect(table_baseline(adsl, arms=arms, protocol=protocol)), table_id="table-baseline"
    )

    # time to event
    adtte = adam["ADTTE"]
    parts = []
    params = adtte.drop_duplicates("PARAMCD").sort_values("PARAMN")[["PARAMCD", "PARAM"]]
    pairs = zip(params["PARAMCD"].astype(str), params["PARAM"].astype(str), strict=True)
    for number, (paramcd, param) in enumerate(pairs, 2):
        name = param.replace(" (months)", "")
        key = f"km_{paramcd.lower()}"
        parts.append(f'<h3 id="tte-{_e(paramcd.lower())}">{_e(name)}</h3>')
        parts.append(
            figs.add(
                key,
                _km_maker(adtte, paramcd, arms),
                f"Figure {number}. Kaplan–Meier estimate: {name} (ITT population). Ticks mark censored "
                "observations; dashed lines the medians; numbers at risk at each tick of the time axis.",
            )
        )
        parts.append(render_table(collect(table_tte(adtte, paramcd, arms=arms)), table_id=f"table-{key}"))
    body["efficacy"] = "".join(parts) if parts else _not_available("No time-to-event parameters in ADTTE.")

    # subgroups (primary PFS parameter, else the first one)
    primary = "PFS" if (adtte["PARAMCD"] == "PFS").any() else (str(params["PARAMCD"].iloc[0]) if len(params) else "")
    if primary and len(arms) >= 2:
        sub = subgroup_hazard_ratios(adtte, adsl, primary, arms=arms, protocol=protocol)
        methods.append(str(sub.attrs.get("footnote", "")))
        body["subgroups"] = figs.add(
            f"forest_{primary.lower()}",
            lambda: plot_forest(adtte, adsl, primary, arms=arms, protocol=protocol),
            f"Figure {len(params) + 2}. Hazard ratio of {primary} by subgroup. {sub.attrs.get('footnote', '')}",
        )
    else:
        body["subgroups"] = _not_available("Subgroup analysis needs two arms and a time-to-event parameter.")

    # response
    adrs = adam["ADRS"]
    parts = []
    for assessor in assessors:
        if (adrs["ASSESSOR"] == assessor).any():
            parts.append(render_table(collect(table_response(adrs, assessor=assessor, arms=arms))))
    if "best_response" in frames:
        parts.append(
            figs.add(
                "waterfall",
                lambda: plot_waterfall(frames["best_response"], adsl, assessor=primary_assessor, arms=arms),
                f"Best percentage change from baseline in the sum of target-lesion diameters ({primary_assessor}), "
                "one bar per patient with a post-baseline measurement, coloured by best overall response. "
                "Dashed lines: +20% (progression) and −30% (partial response), RECIST 1.1.",
            )
        )
    body["response"] = "".join(parts) if parts else _not_available("No response data.")

    body["treatment"] = figs.add(
        "swimmer",
        lambda: plot_swimmer(adsl, adrs, assessor=primary_assessor, arms=arms),
        "Time on treatment of the patients treated longest, with the first objective response and the first "
        f"progression ({primary_assessor}), deaths, and treatment ongoing at the data cut-off.",
    )
    if "exposure" in frames:
        body["exposure"] = render_table(
            collect(table_dose_intensity(frames["exposure"], adsl, protocol, arms=arms, cutoff=cutoff)),
            table_id="table-exposure",
        )
    else:
        body["exposure"] = _not_available("No exposure frame: dose intensity cannot be shown.")
    body["safety"] = render_table(collect(table_safety(adam["ADAE"], adsl, arms=arms)), table_id="table-safety")
    if protocol.published_results:
        body["published"] = render_table(
            collect(table_published_vs_trial(protocol, adam, arms=arms)), table_id="table-published"
        )
    else:
        body["published"] = _not_available("The protocol file lists no published results.")
    body["methods"] = _methods(protocol, methods)

    document = _document(protocol, adsl, arms, cutoff, source, body)
    return document, figs.files


def _km_maker(adtte: pd.DataFrame, paramcd: str, arms: Sequence[ArmStyle]) -> Callable[[], Figure]:
    return lambda: plot_km(adtte, paramcd, arms=arms)


def _methods(protocol: Protocol, notes: Sequence[str]) -> str:
    unique = [n for n in dict.fromkeys(re.sub(r"\s+", " ", n).strip() for n in notes) if n]
    conventions = [
        "Analysis datasets follow CDISC ADaM IG v1.3 (ADSL, ADTTE, ADRS, ADAE); times in months = days / 30.4375.",
        "PFS events and censoring follow FDA Guidance (2018) Appendix 3 Table A: censored at the last adequate "
        "assessment before new anticancer therapy or before an event after two or more missed assessments.",
        "Best overall response per RECIST 1.1 (Eisenhauer 2009) with the protocol's confirmation rules; patients "
        "without an evaluable post-baseline assessment are non-responders.",
        "Adverse events graded with NCI CTCAE v5.0; treatment-emergent from the first dose to 30 days after the last.",
        "Arms compared: each experimental arm versus the control arm; hazard ratios < 1 favour the experimental arm.",
    ]
    parts = ["<h3>Statistical methods (from the analysis results)</h3>"]
    parts.append('<ol class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in unique) + "</ol>")
    parts.append("<h3>Derivation conventions</h3>")
    parts.append('<ol class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in conventions) + "</ol>")
    assumptions = list(protocol.assumptions())
    parts.append("<h3>Modelling assumptions in the protocol file</h3>")
    if assumptions:
        parts.append(
            '<ol class="notes">'
            + "".join(f"<li><b>{_e(where)}</b>: {_e(reason)}</li>" for where, reason in assumptions)
            + "</ol>"
        )
    else:
        parts.append(_not_available("None: every value comes from the registry record or publications."))
    return "".join(parts)


def _document(
    protocol: Protocol,
    adsl: pd.DataFrame,
    arms: Sequence[ArmStyle],
    cutoff: dt.date,
    source: str,
    body: Mapping[str, str],
) -> str:
    ident = protocol.identification
    title = ident.brief_title
    study = ident.org_study_id + (f" ({ident.acronym})" if ident.acronym else "")
    ref = reference_arm(arms) if arms else None
    arm_text = "; ".join(
        f"{a.short} = {a.label} (n={int((adsl['ARMCD'] == a.code).sum())}){' — control' if a is ref else ''}"
        for a in arms
    )
    meta = [
        ("Study", study),
        ("Registry", f"ClinicalTrials.gov {ident.nct_id}"),
        ("Data cut-off", cutoff.isoformat()),
        ("Data source", source or "not stated"),
        ("Arms", arm_text),
        (
            "Populations",
            f"ITT {int((adsl['ITTFL'] == 'Y').sum())}; safety {int((adsl['SAFFL'] == 'Y').sum())}",
        ),
        ("Produced by", f"trialtwin {trialtwin.__version__}"),
    ]
    meta_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
    simulated = "simulat" in source.casefold() or "twin" in source.casefold()
    banner = (
        '<p class="banner">Simulated data (digital twin): these results are one realisation of the trial under '
        "the stated scenario, not observed patient data.</p>"
        if simulated
        else ""
    )
    toc = "".join(f'<li><a href="#{ident_}">{_e(heading)}</a></li>' for ident_, heading in SECTIONS)
    sections = "".join(_section(i, h, body.get(i, _not_available("Not available."))) for i, h in SECTIONS)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(ident.org_study_id)} report — data cut-off {cutoff.isoformat()}</title>"
        f"<style>{_CSS}</style></head><body><main>"
        f'<header class="title"><div class="kicker">Clinical study report · efficacy and safety summary</div>'
        f'<h1>{_e(title)}</h1><dl class="meta">{meta_html}</dl>{banner}</header>'
        f'<nav class="toc"><h2>Contents</h2><ol>{toc}</ol></nav>'
        f"{sections}"
        f"<footer>{_e(ident.org_study_id)} · {_e(ident.nct_id)} · data cut-off {cutoff.isoformat()} · "
        f"generated by trialtwin {_e(trialtwin.__version__)}</footer>"
        "</main></body></html>\n"
    )
