"""The analysis-frame schema (one schema for twin and service)."""

from __future__ import annotations

import pandas as pd
import pytest

from trialtwin.analysis.frames import FRAME_NAMES, SCHEMAS, FrameError, coerce_frame, empty_frame, validate_frames


def _record() -> dict[str, pd.DataFrame]:
    frames = {name: empty_frame(name) for name in FRAME_NAMES}
    frames["subjects"] = pd.DataFrame(
        {
            "subject_id": ["S1"],
            "site_id": ["CN-001"],
            "country": ["China"],
            "randomized_date": ["2021-03-01"],
            "arm": ["sg"],
            "regimen": ["sg"],
            "stratum": ["prior_lines=2|visceral=yes|prior_cdk46=no"],
            "age": [52],
            "sex": ["female"],
            "weight_kg": [58.0],
            "height_cm": [158.0],
            "ecog": [1],
            "first_dose_date": ["2021-03-01"],
            "last_dose_date": [None],
            "strat_prior_lines": ["2"],
        }
    )
    frames["deaths"] = pd.DataFrame({"subject_id": ["S1"], "date": ["2022-01-05"], "cause": ["other"]})
    return frames


def test_every_frame_has_a_subject_or_screening_key() -> None:
    for schema in SCHEMAS.values():
        assert schema.key[0] in ("subject_id", "screening_id")
        assert set(schema.key) <= set(schema.column_names())


def test_validate_coerces_types_and_keeps_strata() -> None:
    frames = validate_frames(_record())
    subjects = frames["subjects"]
    assert subjects["randomized_date"].dtype == "datetime64[ns]"
    assert subjects["age"].dtype == "float64"
    assert subjects["strat_prior_lines"].tolist() == ["2"]
    assert pd.isna(subjects["last_dose_date"].iloc[0])


def test_missing_column_is_named() -> None:
    frames = _record()
    frames["deaths"] = frames["deaths"].drop(columns=["cause"])
    with pytest.raises(FrameError, match=r"frame 'deaths' lacks column\(s\) \['cause'\]"):
        validate_frames(frames)


def test_missing_frame_is_named() -> None:
    frames = _record()
    del frames["labs"]
    with pytest.raises(FrameError, match="lacks frame"):
        validate_frames(frames)


def test_unexpected_value_is_named() -> None:
    frames = _record()
    frames["subjects"].loc[0, "sex"] = "F"
    with pytest.raises(FrameError, match="column 'sex': unexpected value"):
        validate_frames(frames)


def test_non_nullable_missing_value() -> None:
    frames = _record()
    frames["subjects"].loc[0, "arm"] = None
    with pytest.raises(FrameError, match="column 'arm': missing values are not allowed"):
        validate_frames(frames)


def test_unknown_subject_in_a_child_frame() -> None:
    frames = _record()
    frames["deaths"].loc[0, "subject_id"] = "S9"
    with pytest.raises(FrameError, match="subjects not in 'subjects'"):
        validate_frames(frames)


def test_bad_date() -> None:
    frame = _record()["deaths"]
    frame.loc[0, "date"] = "yesterday"
    with pytest.raises(FrameError, match="column 'date': cannot read as date"):
        coerce_frame("deaths", frame)
