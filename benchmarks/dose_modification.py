"""Time the dosing engine: ``evaluate_dose`` per drug, ``compute_dose`` and ``grade_lab``.

Prints microseconds per call. Target from issue 3: < 50 µs per ``evaluate_dose`` call (the twin calls it for
every scheduled administration of every virtual patient). The history has 6 events over 4 cycles; labs include
today's liver tests, so the lab-derived toxicities are computed too.
"""

from __future__ import annotations

import timeit

from trialtwin.engine.dose_modification import Labs, ToxicityEvent, evaluate_dose
from trialtwin.engine.dosing import compute_bsa, compute_dose
from trialtwin.engine.toxicity import grade_lab
from trialtwin.protocol import load_protocol

HISTORY = (
    ToxicityEvent("Neutrophil count decreased", 3, 1, 8, current_grade=0),
    ToxicityEvent("Nausea", 1, 1, 2, current_grade=0),
    ToxicityEvent("Diarrhea", 2, 2, 4, current_grade=0, controlled=True),
    ToxicityEvent("Fatigue", 2, 2, 10),
    ToxicityEvent("Alopecia", 2, 3, 1),
    ToxicityEvent("Platelet count decreased", 2, 4, 8, current_grade=1),
)
LABS = Labs(anc=1.7, platelets=160, hemoglobin=10.5, bilirubin=1.1, ast=1.2, alt=1.6, creatinine=0.9)


def per_call_us(stmt: object, number: int) -> float:
    assert callable(stmt)
    best = min(timeit.repeat(stmt, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    protocol = load_protocol("ever-132-002")
    print("evaluate_dose, 6-event history, C5D1 (best of 5 x 20,000 calls):")
    for regimen in protocol.regimens:
        us = per_call_us(lambda r=regimen: evaluate_dose(r, 5, 1, LABS, HISTORY, 0), 20_000)
        print(f"  {regimen.drug:<24} {us:6.1f} us/call")
    us = per_call_us(lambda: evaluate_dose(protocol.regimen("sg"), 5, 1, LABS, (), 0), 20_000)
    print(f"  {'sacituzumab (no history)':<24} {us:6.1f} us/call")
    cap = protocol.regimen("capecitabine")
    sg = protocol.regimen("sg")
    print("compute_dose (best of 5 x 20,000 calls):")
    print(f"  {'capecitabine (tablets)':<24} {per_call_us(lambda: compute_dose(cap, 70, 170), 20_000):6.1f} us/call")
    print(f"  {'sacituzumab (0.1 mg)':<24} {per_call_us(lambda: compute_dose(sg, 70, 170), 20_000):6.1f} us/call")
    print(f"  {'compute_bsa':<24} {per_call_us(lambda: compute_bsa(70, 170), 100_000):6.2f} us/call")
    us = per_call_us(lambda: grade_lab("ALT increased", 160, "U/L", uln=40), 100_000)
    print(f"grade_lab (ALT, U/L):      {us:6.2f} us/call")


if __name__ == "__main__":
    main()
