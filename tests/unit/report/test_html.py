"""The HTML report: one self-contained document with every section, the figures inline, footnotes escaped."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd
import pytest

from trialtwin.protocol import Protocol
from trialtwin.report import SECTIONS, render_report, render_table, table_tte

CUTOFF = dt.date(2022, 6, 30)


@pytest.fixture(scope="module")
def rendered(
    small_adam: dict[str, pd.DataFrame], small_frames: dict[str, pd.DataFrame], ever: Protocol
) -> tuple[str, dict[str, bytes]]:
    return render_report(
        small_adam, small_frames, ever, cutoff=CUTOFF, source="trialtwin simulate (digital twin), seed 1"
    )


def test_every_section_present_and_in_the_contents(rendered: tuple[str, dict[str, bytes]]) -> None:
    html, _ = rendered
    for ident, heading in SECTIONS:
        assert f'<section id="{ident}">' in html
        assert f'<a href="#{ident}">{heading}</a>' in html
    assert html.count("<section ") == len(SECTIONS)


def test_title_block(rendered: tuple[str, dict[str, bytes]]) -> None:
    html, _ = rendered
    assert "NCT04639986" in html and "EVER-132-002" in html
    assert "<dt>Data cut-off</dt><dd>2022-06-30</dd>" in html
    assert "<dt>Data source</dt><dd>trialtwin simulate (digital twin), seed 1</dd>" in html
    assert "Simulated data (digital twin)" in html


def test_self_contained(rendered: tuple[str, dict[str, bytes]]) -> None:
    """No scripts, no external stylesheets or images: figures are inline SVG."""
    html, figures = rendered
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:|//|file:)', html)
    assert html.count("<svg") == len([k for k in figures if k.endswith(".svg")])


def test_figures_in_both_formats(rendered: tuple[str, dict[str, bytes]]) -> None:
    _, figures = rendered
    names = {"consort", "km_pfs", "km_os", "forest_pfs", "waterfall", "swimmer"}
    assert set(figures) == {f"{n}.{fmt}" for n in names for fmt in ("png", "svg")}
    assert all(figures[f"{n}.png"].startswith(b"\x89PNG") for n in names)


def test_methods_footnotes_from_the_analysis(rendered: tuple[str, dict[str, bytes]]) -> None:
    html, _ = rendered
    methods = html[html.index('<section id="methods">') :]
    assert "ties: Efron" in methods
    assert "Clopper–Pearson" in methods
    assert "Brookmeyer–Crowley" in methods
    assert "Modelling assumptions in the protocol file" in methods


def test_deterministic(
    rendered: tuple[str, dict[str, bytes]],
    small_adam: dict[str, pd.DataFrame],
    small_frames: dict[str, pd.DataFrame],
    ever: Protocol,
) -> None:
    again = render_report(
        small_adam, small_frames, ever, cutoff=CUTOFF, source="trialtwin simulate (digital twin), seed 1"
    )
    assert again == rendered


def test_render_table_sections_items_and_escaping(small_adam: dict[str, pd.DataFrame], small_arms: Any) -> None:
    table = table_tte(small_adam["ADTTE"], "PFS", arms=small_arms)
    table.attrs["footnotes"] = ["a < b & c"]
    html = render_table(table, table_id="t1")
    assert html.startswith('<table class="tlf" id="t1">')
    assert '<tr class="section"><td class="stub">Patients with event</td><td>4 (66.7%)</td>' in html
    assert '<tr class="item"><td class="stub">Disease progression</td>' in html
    assert "(N=6)" in html and "Sacituzumab Govitecan-hziy" in html
    assert "<li>a &lt; b &amp; c</li>" in html


def test_render_flat_table() -> None:
    frame = pd.DataFrame({"Published within CI": ["yes", "no"], "This trial": ["1.0", "2.0"]})
    html = render_table(frame)
    assert 'class="tlf flat"' in html
    assert '<td class="yes">yes</td>' in html and '<td class="no">no</td>' in html
