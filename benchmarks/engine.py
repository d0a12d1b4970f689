"""Engine benchmark (issue 3): microseconds per call of the four rules the twin calls for every virtual patient.

Target: each under 50 µs per call on one core. Prints figures (best of 5 repeats); asserts nothing.

    .venv/bin/python benchmarks/engine.py
"""

from __future__ import annotations

import datetime as dt
import json
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trialtwin.engine.dose_modification import Labs, ToxicityEvent, evaluate_dose
from trialtwin.engine.dosing import compute_dose
from trialtwin.engine.eligibility import evaluate_eligibility
from trialtwin.engine.randomization import Subject, allocate, initial_state
from trialtwin.engine.recist import (
    Assessment,
    LesionStatus,
    NonTargetLesion,
    RecistRecord,
    RecistRules,
    TargetLesion,
    assess_recist,
)
from trialtwin.engine.toxicity import grade_lab
from trialtwin.protocol import load_protocol

RANDOMIZED = dt.date(2021, 3, 1)
#: An eligible EVER-132-002 patient: the documented example file of `trialtwin screen`.
FACTS = json.loads((Path(__file__).parents[1] / "docs" / "examples" / "screening-eligible.json").read_text())


def recist_record() -> RecistRecord:
    """Baseline + 9 follow-ups, 5 targets and 3 non-targets: a confirmed PR, then PD at the last scan."""
    organs = (("liver", False), ("liver", False), ("lung", False), ("lymph node", True), ("adrenal", False))
    factors = (1.0, 0.8, 0.65, 0.6, 0.55, 0.55, 0.6, 0.62, 0.65, 0.9)
    assessments = []
    for k, factor in enumerate(factors):
        date = RANDOMIZED + dt.timedelta(days=-7 if k == 0 else 42 * k)
        targets = tuple(
            TargetLesion(f"T{i}", organ, nodal, round((30.0 - 3 * i) * factor, 1))
            for i, (organ, nodal) in enumerate(organs)
        )
        non_targets = tuple(
            NonTargetLesion(f"N{i}", organ, False, LesionStatus.PRESENT)
            for i, organ in enumerate(("bone", "pleura", "skin"))
        )
        assessments.append(Assessment(date, targets, non_targets, False))
    return RecistRecord(RANDOMIZED, tuple(assessments))


def per_call_us(func: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


def main() -> None:
    protocol = load_protocol("ever-132-002")
    sg = protocol.regimen("sg")
    state = initial_state(protocol)
    minimization = initial_state(protocol, method="minimization")
    subject = Subject("S1", {"prior_lines": "3-4", "visceral": "yes", "prior_cdk46": "yes"})
    rng = np.random.default_rng(1)
    labs = Labs(anc=1.7, platelets=160, bilirubin=1.1)
    history = (
        ToxicityEvent("Neutrophil count decreased", 3, 1, 8, current_grade=0),
        ToxicityEvent("Diarrhea", 3, 2, 4, current_grade=0, controlled=True),
    )
    record = recist_record()
    rules = RecistRules.from_protocol(protocol.response_rules)
    evaluate_eligibility(protocol, FACTS)  # compile the rules once, as the twin does
    rows = [
        ("evaluate_eligibility (validated facts)", lambda: evaluate_eligibility(protocol, FACTS), 20_000),
        (
            "evaluate_eligibility (validate=False)",
            lambda: evaluate_eligibility(protocol, FACTS, validate=False),
            20_000,
        ),
        ("allocate (stratified permuted blocks)", lambda: allocate(state, subject, rng=rng), 20_000),
        ("allocate (Pocock-Simon minimisation)", lambda: allocate(minimization, subject, rng=rng), 20_000),
        ("evaluate_dose (SG, C3D1, 2-event history)", lambda: evaluate_dose(sg, 3, 1, labs, history, 0), 20_000),
        ("compute_dose (SG 70 kg, level -1)", lambda: compute_dose(sg, 70.0, 170.0, level=-1), 20_000),
        ("grade_lab (neutrophils)", lambda: grade_lab("Neutrophil count decreased", 0.9, "10^9/L", lln=1.8), 50_000),
        ("assess_recist (10 assessments, checked)", lambda: assess_recist(record, rules=rules), 5_000),
        ("assess_recist (10 assessments, check=False)", lambda: assess_recist(record, rules=rules, check=False), 5_000),
    ]
    print("trialtwin engine, EVER-132-002, one core (best of 5); target < 50 µs per call")
    for name, func, number in rows:
        us = per_call_us(func, number)
        print(f"  {name:<46} {us:7.1f} µs   {1e6 / us:>10,.0f} calls/s")


if __name__ == "__main__":
    main()
