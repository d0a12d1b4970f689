"""The toxicity history as a site knows it on a visit day: what the dose rules of a dosing visit read.

One rule, used by the service's dosing visit (``trialtwin.services.visits``) on the adverse events it stores and
by the twin (``trialtwin.sim.treatment``) on the ones it draws, so that both decide a dose from the same facts
(the golden journey asks for 0 differing dose decisions):

* an adverse event is attributed to the **last dose given (or given reduced) before its onset**
  (:func:`attribute_onset`; the cycle and day the label's dose-modification tables count occurrences by, e.g.
  TRODELVY USPI §2.3); an event with no dose before it (before cycle 1 day 1) is attributed to none and does
  not count;
* on a visit day the site knows the events with **onset on or before that day** (ICH E6(R3) 2.8.10: a decision
  rests on what has been recorded by then, never on what is still to come), in order of onset;
* an event whose **resolution is on or before that day** counts as resolved: its current grade is 0 (a grade
  ≤ 1 is what the rules call resolved; CTCAE v5.0 grade 0 is "none").

Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from trialtwin.engine.dose_modification import ToxicityEvent

__all__ = ["AdverseEpisode", "DoseRecord", "ToxicityHistory", "attribute_onset"]


@dataclass(frozen=True, slots=True)
class DoseRecord:
    """One administration record: its date, cycle and day, and whether a dose was given (given or given
    reduced; a held or omitted dose is ``given=False``)."""

    date: dt.date
    cycle: int
    day: int
    given: bool


@dataclass(frozen=True, slots=True)
class AdverseEpisode:
    """One adverse event as recorded: term, worst grade, onset and resolution (``None``: ongoing), the dose it
    is attributed to (``cycle``/``day``; ``None``: no dose before its onset) and the facts the dose rules read."""

    term: str
    grade: int
    onset: dt.date
    resolution: dt.date | None
    cycle: int | None
    day: int | None
    febrile: bool = False
    infection: bool = False
    controlled: bool = False
    duration_days: int | None = None


def attribute_onset(doses: Sequence[DoseRecord], onset: dt.date) -> tuple[int, int] | None:
    """The (cycle, day) of the last dose given before ``onset`` (strictly before: a dose on the onset day did
    not cause it), or ``None`` when there is none. ``doses`` in the order they were recorded."""
    for dose in reversed(doses):
        if dose.given and dose.date < onset:
            return dose.cycle, dose.day
    return None


class ToxicityHistory:
    """The adverse events of one patient, in the order recorded, and :meth:`on` a day, the
    :class:`~trialtwin.engine.dose_modification.ToxicityEvent` history the dose rules read that day.

    The two forms of an event (ongoing, resolved) are made once, so a patient's course can ask for the history
    at every visit without rebuilding it (the twin does, for every visit of every patient).
    """

    def __init__(self, episodes: Iterable[AdverseEpisode] = ()) -> None:
        # Kept in order of onset (events with one onset in the order recorded), with their two forms (ongoing,
        # resolved); events attributed to no dose are counted in ``len`` but never shown.
        self._onsets: list[dt.date] = []
        self._kept: list[tuple[AdverseEpisode, ToxicityEvent, ToxicityEvent]] = []
        self._count = 0
        for episode in episodes:
            self.add(episode)

    def __len__(self) -> int:
        return self._count

    def add(self, episode: AdverseEpisode) -> None:
        """Record one more adverse event."""
        self._count += 1
        if episode.cycle is None or episode.day is None:
            return  # no dose before its onset: not attributed, not counted
        ongoing = ToxicityEvent(
            term=episode.term,
            grade=episode.grade,
            cycle=episode.cycle,
            day=episode.day,
            current_grade=episode.grade,
            febrile=episode.febrile,
            infection=episode.infection,
            controlled=episode.controlled,
            duration_days=episode.duration_days,
        )
        at = bisect.bisect_right(self._onsets, episode.onset)
        self._onsets.insert(at, episode.onset)
        self._kept.insert(at, (episode, ongoing, replace(ongoing, current_grade=0)))

    def on(self, day: dt.date) -> tuple[ToxicityEvent, ...]:
        """The history as known on ``day``: attributed events with onset on or before it, at grade 0 where
        resolved on or before it; in order of onset (events with one onset in the order recorded)."""
        known = []
        for episode, ongoing, resolved in self._kept[: bisect.bisect_right(self._onsets, day)]:
            done = episode.resolution is not None and episode.resolution <= day
            known.append(resolved if done else ongoing)
        return tuple(known)
