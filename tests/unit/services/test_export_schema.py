"""The service's export restates the analysis frames' columns (services may not import analysis): both must
agree, column for column and type for type (DESIGN.md principle 4)."""

from __future__ import annotations

import pandas as pd

from trialtwin.analysis.frames import FRAME_NAMES, SCHEMAS, coerce_frame, empty_frame
from trialtwin.services.export import FRAME_COLUMNS, NULLABLE_BOOLEANS, build_frame


def test_frame_columns_are_the_analysis_schema() -> None:
    assert tuple(FRAME_COLUMNS) == FRAME_NAMES
    for name, schema in SCHEMAS.items():
        assert FRAME_COLUMNS[name] == tuple((c.name, c.kind) for c in schema.columns), name
    nullable = {(n, c.name) for n, s in SCHEMAS.items() for c in s.columns if c.kind == "bool" and c.nullable}
    assert nullable == NULLABLE_BOOLEANS


def test_an_empty_boolean_stays_empty() -> None:
    """ "Controlled by supportive care" not assessed is <NA> (pandas ``boolean``), never False."""
    import datetime as dt

    day = dt.date(2025, 5, 1)
    rows = [
        {"subject_id": "S1", "term": t, "grade": 3, "start_date": day, "end_date": None, "serious": False}
        for t in ("Diarrhea", "Nausea", "Anemia")
    ]
    rows[0]["controlled"], rows[1]["controlled"] = True, False
    frame = build_frame("adverse_events", rows)
    assert frame["controlled"].dtype == "boolean"
    assert frame["controlled"].tolist() == [True, False, pd.NA]
    pd.testing.assert_frame_equal(coerce_frame("adverse_events", frame), frame)


def test_an_empty_export_frame_has_the_schema_dtypes() -> None:
    for name in FRAME_NAMES:
        pd.testing.assert_series_equal(build_frame(name, []).dtypes, empty_frame(name).dtypes, obj=name)


def test_rows_with_missing_optional_values_coerce_unchanged() -> None:
    """Nullable dates and floats become NaT/NaN, text None; the schema's coercion changes nothing."""
    import datetime as dt

    rows = [
        {
            "subject_id": "CN-001-0001",
            "assessor": "BICR",
            "response": "NE",
            "response_date": None,
            "confirmation_date": None,
            "progression_date": dt.date(2025, 5, 1),
            "best_pct_change": None,
        }
    ]
    frame = build_frame("best_response", rows)
    assert frame["response_date"].isna().all() and frame["best_pct_change"].isna().all()
    pd.testing.assert_frame_equal(coerce_frame("best_response", frame), frame)
    subjects = build_frame("subjects", [], extra=("strat_prior_lines",))
    assert list(subjects.columns)[-1] == "strat_prior_lines"
