"""RECIST 1.1 input: lesions, assessments and a patient's record, with the checks a record must pass.

Plain frozen dataclasses (no pydantic: the twin builds thousands of them per second). The JSON edge that
builds them lives in :mod:`trialtwin.engine.recist.schema`.

Thresholds are Eisenhauer EA et al., Eur J Cancer 2009;45:228-247 (RECIST 1.1) §3.1-§3.3, as summarised in
the facts file (docs reference ``ever-132-002-facts.md`` section 5).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from trialtwin.protocol.errors import TrialtwinError

#: At most 5 target lesions in total (RECIST 1.1 §3.3.1).
MAX_TARGETS = 5
#: At most 2 target lesions per organ (RECIST 1.1 §3.3.1); all lymph nodes together count as one organ.
MAX_TARGETS_PER_ORGAN = 2
#: A non-nodal lesion is measurable with a longest diameter >= 10 mm by CT/MRI (RECIST 1.1 §3.1.1).
MIN_MEASURABLE_MM = 10.0
#: A lymph node is a measurable (target) lesion with a short axis >= 15 mm (RECIST 1.1 §3.1.1).
MIN_MEASURABLE_NODE_MM = 15.0
#: The organ name every nodal lesion is counted under ("lymph nodes are one organ", RECIST 1.1 §3.3.1).
NODE_ORGAN = "lymph node"
_INF = math.inf


class LesionStatus(StrEnum):
    """Qualitative state of a non-target lesion (RECIST 1.1 §4.3.2)."""

    PRESENT = "present"
    ABSENT = "absent"
    UNEQUIVOCAL_PROGRESSION = "unequivocal_progression"
    NOT_EVALUATED = "not_evaluated"


@dataclass(frozen=True, slots=True)
class TargetLesion:
    """One target lesion at one assessment.

    ``diameter_mm`` is the longest diameter, or the short axis for a lymph node (RECIST 1.1 §4.2);
    0 means the lesion disappeared. ``None`` with ``too_small`` means "present but too small to measure"
    (counted as 5 mm); ``None`` without ``too_small`` means "not measured" at this assessment.
    """

    id: str
    organ: str
    nodal: bool
    diameter_mm: float | None
    too_small: bool = False


@dataclass(frozen=True, slots=True)
class NonTargetLesion:
    """One non-target lesion (or group of lesions in one organ) at one assessment (RECIST 1.1 §3.3.2)."""

    id: str
    organ: str
    nodal: bool
    status: LesionStatus


@dataclass(frozen=True, slots=True)
class Assessment:
    """One tumour assessment (scan date): target measurements, non-target states, new lesions yes/no."""

    date: dt.date
    target: tuple[TargetLesion, ...] = ()
    non_target: tuple[NonTargetLesion, ...] = ()
    new_lesions: bool = False


@dataclass(frozen=True, slots=True)
class RecistRecord:
    """A patient's tumour assessments: the first is the baseline, the rest are follow-ups."""

    randomized: dt.date
    assessments: tuple[Assessment, ...]


#: Either kind of lesion.
Lesion = TargetLesion | NonTargetLesion


class RecistInputError(TrialtwinError):
    """A RECIST record breaks an input rule. ``problems`` lists ``(field path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid RECIST input"] + [f"  {path}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class TargetSelection:
    """Outcome of the baseline target-selection check: ``(field path, reason)`` for each violation."""

    problems: tuple[tuple[str, str], ...]

    @property
    def valid(self) -> bool:
        return not self.problems


def organ_key(lesion: Lesion) -> str:
    """The organ a lesion counts under for the 2-per-organ rule: every node counts as one organ
    ("lymph node"), other organs by name, case-insensitively (RECIST 1.1 §3.3.1)."""
    return NODE_ORGAN if lesion.nodal else lesion.organ.strip().casefold()


def evaluate_target_selection(targets: tuple[TargetLesion, ...], *, path: str = "target") -> TargetSelection:
    """Check baseline target lesions against RECIST 1.1 §3.3.1 (and §3.1.1 for measurability).

    At most 5 targets, at most 2 per organ (nodes are one organ), each measured at baseline, non-nodal
    longest diameter >= 10 mm, nodal short axis >= 15 mm (a node of 10 to < 15 mm is pathological but
    non-measurable: record it as a non-target lesion).
    """
    problems: list[tuple[str, str]] = []
    if len(targets) > MAX_TARGETS:
        problems.append((path, f"{len(targets)} target lesions; RECIST 1.1 allows at most {MAX_TARGETS}"))
    per_organ: dict[str, list[str]] = {}
    for i, lesion in enumerate(targets):
        per_organ.setdefault(organ_key(lesion), []).append(lesion.id)
        size = lesion.diameter_mm
        if size is None:
            state = "too small to measure" if lesion.too_small else "not measured"
            reason = f"a baseline target lesion must be measured ({state})"
        elif lesion.nodal and size < MIN_MEASURABLE_NODE_MM:
            reason = (
                f"node short axis {size:g} mm is below {MIN_MEASURABLE_NODE_MM:g} mm: not measurable, "
                "record it as a non-target lesion"
            )
        elif not lesion.nodal and size < MIN_MEASURABLE_MM:
            reason = (
                f"longest diameter {size:g} mm is below {MIN_MEASURABLE_MM:g} mm: not measurable, "
                "record it as a non-target lesion"
            )
        else:
            continue
        problems.append((f"{path}[{i}](id={lesion.id}).diameter_mm", reason))
    for organ, ids in per_organ.items():
        if len(ids) > MAX_TARGETS_PER_ORGAN:
            problems.append(
                (
                    path,
                    f"{len(ids)} target lesions in organ {organ!r} ({', '.join(ids)}); "
                    f"RECIST 1.1 allows at most {MAX_TARGETS_PER_ORGAN} per organ",
                )
            )
    return TargetSelection(tuple(problems))


def _signature(lesions: Sequence[Lesion]) -> list[tuple[str, bool]]:
    return [(lesion.id, lesion.nodal) for lesion in lesions]


def _same_lesions(
    lesions: Sequence[Lesion], expected: list[tuple[str, bool]], expected_sorted: list[tuple[str, bool]]
) -> bool:
    """True when ``lesions`` are exactly the baseline's (``expected``: its ids and nodal flags), in any order."""
    signature = _signature(lesions)
    return signature == expected or sorted(signature) == expected_sorted


def _lesion_problems(
    at: str,
    kind: str,
    lesions: Sequence[Lesion],
    expected: dict[str, bool],
    other: dict[str, bool],
    problems: list[tuple[str, str]],
) -> None:
    """Why the lesions of a follow-up are not the baseline's: unknown, repeated, missing, nodal flag."""
    found: set[str] = set()
    for i, lesion in enumerate(lesions):
        where = f"{at}.{kind}[{i}](id={lesion.id})"
        if lesion.id in found:
            problems.append((where, f"lesion id {lesion.id!r} appears twice in this assessment"))
        found.add(lesion.id)
        nodal = expected.get(lesion.id)
        if nodal is None:
            if lesion.id in other:
                problems.append((where, f"lesion {lesion.id!r} was not a {kind.replace('_', '-')} lesion at baseline"))
            else:
                problems.append(
                    (
                        where,
                        f"unknown lesion id {lesion.id!r}: not recorded at baseline "
                        "(report new lesions with new_lesions: true)",
                    )
                )
        elif nodal != lesion.nodal:
            problems.append((f"{where}.nodal", f"nodal is {lesion.nodal} here but {nodal} at baseline"))
    hint = "diameter_mm: null" if kind == "target" else "status: not_evaluated"
    for lesion_id in expected:
        if lesion_id not in found:
            problems.append(
                (
                    f"{at}.{kind}",
                    f"baseline {kind.replace('_', '-')} lesion {lesion_id!r} is missing "
                    f"(record it with {hint} when it was not assessed)",
                )
            )


def _value_problems(targets: Sequence[TargetLesion], at: str) -> list[tuple[str, str]]:
    """Target sizes that are negative, not finite, or given together with ``too_small``."""
    problems: list[tuple[str, str]] = []
    for i, lesion in enumerate(targets):
        size = lesion.diameter_mm
        if size is None:
            continue
        where = f"{at}.target[{i}](id={lesion.id})"
        if not math.isfinite(size) or size < 0:
            problems.append((f"{where}.diameter_mm", f"size must be a finite number >= 0 mm (got {size})"))
        elif lesion.too_small:
            problems.append(
                (f"{where}.too_small", f"too_small is for a lesion without a measurement (diameter_mm is {size:g})")
            )
    return problems


def record_problems(record: RecistRecord) -> list[tuple[str, str]]:
    """Every ``(field path, message)`` that makes a record unusable; empty when it is valid.

    Checks: at least a baseline; assessment dates strictly increasing; follow-ups after randomization;
    sizes finite and >= 0; no new lesions at baseline; baseline non-targets present; baseline target selection
    (:func:`evaluate_target_selection`); lesion ids unique; every baseline target and non-target lesion in
    every follow-up (a target without a measurement is ``diameter_mm: null``, a non-target one
    ``status: not_evaluated``), no lesion id that was not recorded at baseline (new lesions are reported
    with ``new_lesions: true``), and nodal flags as at baseline.
    """
    problems: list[tuple[str, str]] = []
    assessments = record.assessments
    if not assessments:
        return [("assessments", "at least one assessment (the baseline) is needed")]
    base = assessments[0]
    if not base.target and not base.non_target:
        problems.append(("assessments[0]", "the baseline assessment records no lesion"))
    if base.new_lesions:
        problems.append(("assessments[0].new_lesions", "a baseline assessment cannot have new lesions"))
    seen: dict[str, str] = {}
    base_groups: tuple[tuple[str, Sequence[Lesion]], ...] = (("target", base.target), ("non_target", base.non_target))
    for kind, lesions in base_groups:
        for i, lesion in enumerate(lesions):
            if lesion.id in seen:
                problems.append(
                    (f"assessments[0].{kind}[{i}].id", f"lesion id {lesion.id!r} is used twice at baseline")
                )
            seen[lesion.id] = kind
    problems.extend(_value_problems(base.target, "assessments[0]"))
    problems.extend(evaluate_target_selection(base.target, path="assessments[0].target").problems)
    for i, nt in enumerate(base.non_target):
        if nt.status is not LesionStatus.PRESENT:
            problems.append(
                (
                    f"assessments[0].non_target[{i}](id={nt.id}).status",
                    f"a baseline non-target lesion must be 'present' (got {nt.status.value!r})",
                )
            )
    base_targets = {t.id: t.nodal for t in base.target}
    base_non_targets = {n.id: n.nodal for n in base.non_target}

    target_sig = _signature(base.target)
    target_sig_sorted = sorted(target_sig)
    non_target_sig = _signature(base.non_target)
    non_target_sig_sorted = sorted(non_target_sig)
    previous = base.date
    randomized = record.randomized
    for k in range(1, len(assessments)):
        a = assessments[k]
        date = a.date
        if date <= previous:
            problems.append(
                (f"assessments[{k}].date", f"{date.isoformat()} is not after the previous assessment {previous}")
            )
        if date <= randomized:
            problems.append(
                (f"assessments[{k}].date", f"follow-up {date.isoformat()} is not after randomization {randomized}")
            )
        previous = max(previous, date)
        # Fast path: a valid follow-up costs one list comparison per lesion kind; messages only on failure.
        if not _same_lesions(a.target, target_sig, target_sig_sorted):
            _lesion_problems(f"assessments[{k}]", "target", a.target, base_targets, base_non_targets, problems)
        if not _same_lesions(a.non_target, non_target_sig, non_target_sig_sorted):
            _lesion_problems(f"assessments[{k}]", "non_target", a.non_target, base_non_targets, base_targets, problems)
        for lesion in a.target:
            size = lesion.diameter_mm
            if size is not None and (lesion.too_small or not 0.0 <= size < _INF):
                problems.extend(_value_problems(a.target, f"assessments[{k}]"))
                break
    return problems


def check_record(record: RecistRecord, *, source: str = "<record>") -> None:
    """Raise :class:`RecistInputError` listing every problem of :func:`record_problems`, if any."""
    problems = record_problems(record)
    if problems:
        raise RecistInputError(source, problems)
