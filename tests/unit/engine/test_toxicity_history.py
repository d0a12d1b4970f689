"""The toxicity history a dosing visit reads (engine.toxicity_history): attribution of an adverse event to the last
dose given before its onset, and the history as known on the visit day (onset on or before it, grade 0 once
resolved on or before it; ICH E6(R3) 2.8.10). The expected values are worked by hand from those rules."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialtwin.engine.toxicity_history import AdverseEpisode, DoseRecord, ToxicityHistory, attribute_onset

D = dt.date(2025, 3, 3)  # C1D1


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


DOSES = [
    DoseRecord(day(0), 1, 1, True),  # C1D1 given
    DoseRecord(day(7), 1, 8, True),  # C1D8 given
    DoseRecord(day(21), 2, 1, False),  # C2D1 held
    DoseRecord(day(28), 2, 1, True),  # C2D1 given a week late
]


@pytest.mark.parametrize(
    ("onset", "expected"),
    [
        pytest.param(day(-3), None, id="before-the-first-dose"),
        pytest.param(day(0), None, id="on-the-first-dose-day-not-caused-by-it"),
        pytest.param(day(1), (1, 1), id="after-C1D1"),
        pytest.param(day(7), (1, 1), id="on-C1D8-still-C1D1"),
        pytest.param(day(10), (1, 8), id="after-C1D8"),
        pytest.param(day(25), (1, 8), id="after-a-held-dose-the-last-given"),
        pytest.param(day(30), (2, 1), id="after-the-delayed-C2D1"),
    ],
)
def test_an_event_is_attributed_to_the_last_dose_given_before_its_onset(
    onset: dt.date, expected: tuple[int, int] | None
) -> None:
    assert attribute_onset(DOSES, onset) == expected


def episode(
    term: str, onset: int, resolution: int | None, cycle: int | None = 1, dose_day: int | None = 1, **flags: bool
) -> AdverseEpisode:
    """A grade 3 episode from study day ``onset`` to ``resolution`` (None: ongoing), attributed to (cycle, day)."""
    resolved = None if resolution is None else day(resolution)
    return AdverseEpisode(term, 3, day(onset), resolved, cycle, dose_day, **flags)


def test_the_history_on_a_day_holds_what_the_site_knows_then() -> None:
    history = ToxicityHistory(
        [
            episode("Neutrophil count decreased", 10, 17, 1, 8),
            episode("Diarrhea", 3, 7, controlled=True),  # recorded later, started earlier
            episode("Nausea", -2, 1, None, None),  # before the first dose: attributed to none
            episode("Febrile neutropenia", 10, None, 1, 8, febrile=True),
        ]
    )
    assert history.on(day(2)) == ()
    on_5 = history.on(day(5))
    assert [(e.term, e.current_grade, e.controlled) for e in on_5] == [("Diarrhea", 3, True)]
    on_10 = history.on(day(10))
    assert [(e.term, e.current_grade) for e in on_10] == [
        ("Diarrhea", 0),
        ("Neutrophil count decreased", 3),
        ("Febrile neutropenia", 3),
    ]
    on_17 = history.on(day(17))
    assert [(e.term, e.current_grade, (e.cycle, e.day)) for e in on_17] == [
        ("Diarrhea", 0, (1, 1)),
        ("Neutrophil count decreased", 0, (1, 8)),
        ("Febrile neutropenia", 3, (1, 8)),
    ]
    assert on_17[2].febrile and on_17[2].grade == 3
    assert len(history) == 4


@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.one_of(st.none(), st.integers(0, 20)), st.booleans()),
        max_size=12,
    ),
    st.integers(-5, 90),
)
def test_the_history_never_shows_an_event_before_its_onset_and_resolved_ones_at_grade_0(
    raw: list[tuple[int, int | None, bool]], visit: int
) -> None:
    """Property: whatever the order recorded, every event shown has onset <= the day, is in onset order, is at
    grade 0 exactly when resolved by the day, and every attributed event with onset <= the day is shown."""
    episodes = [
        episode(
            "Diarrhea",
            onset,
            None if length is None else onset + length,
            1 if attributed else None,
            1 if attributed else None,
        )
        for onset, length, attributed in raw
    ]
    shown = ToxicityHistory(episodes).on(day(visit))
    expected = sorted((e for e in episodes if e.cycle is not None and e.onset <= day(visit)), key=lambda e: e.onset)
    assert len(shown) == len(expected)
    for event, source in zip(shown, expected, strict=True):
        resolved = source.resolution is not None and source.resolution <= day(visit)
        assert event.current_grade == (0 if resolved else source.grade)
