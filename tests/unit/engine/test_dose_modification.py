"""Dose modification (issue 3, point 4): one row per rule clause of every drug, named after the clause.

Sources of the expected decisions: Trodelvy (sacituzumab govitecan) US PI section 2.3, Tables 1-2; Halaven
(eribulin) US PI sections 2.2-2.3; capecitabine PI dose-modification table (Xeloda scheme); Gemzar breast Day-8
table and Pfizer gemcitabine US PI section 2; vinorelbine PI sections 2.2-2.3 — as summarised in
/work/shared/reference/ever-132-002-facts.md section 4 (keys SG-PI, SG-CTA, ERI-US, CAP-PI, CAP-TAB, GEM-OLD,
GEM-PI, VIN-DC, VIN-HEP). Every row states its clause in its id; the ``source`` column names the label.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trialtwin.engine.dose_modification import (
    RULES,
    DoseAction,
    DoseModificationError,
    LabBands,
    Labs,
    ToxicityEvent,
    evaluate_dose,
    events_from_data,
    labs_from_data,
)
from trialtwin.protocol import Protocol
from trialtwin.protocol.errors import TrialtwinError

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples"

SG = "Trodelvy US PI Tables 1-2"
ERI = "Halaven US PI 2.2-2.3"
CAP = "Capecitabine PI (Xeloda scheme)"
GEM = "Gemzar breast Day-8 table / Pfizer gemcitabine PI"
VIN = "Vinorelbine PI 2.2-2.3"

OK = {"anc": 2.0, "platelets": 200.0}
HOLD, GIVE, REDUCE, OMIT, STOP = (
    DoseAction.HOLD,
    DoseAction.GIVE,
    DoseAction.REDUCE,
    DoseAction.OMIT,
    DoseAction.DISCONTINUE,
)


NEUT = "Neutrophil count decreased"


def ev(term: str, grade: int, cycle: int = 1, day: int = 10, now: int | None = None, **flags: Any) -> ToxicityEvent:
    """A toxicity event; ``now`` is its grade on the evaluation day (``current_grade``)."""
    return ToxicityEvent(term, grade, cycle, day, current_grade=now, **flags)


FN_RESOLVED = ev("Febrile neutropenia", 3, 1, 12, now=0)


def case(
    clause: str,
    source: str,
    regimen: str,
    cycle: int,
    day: int,
    expect: tuple[DoseAction, int | None, float],
    *,
    labs: dict[str, float] | None = None,
    events: tuple[ToxicityEvent, ...] = (),
    level: int = 0,
    delay_days: int = 0,
    consecutive_holds: int = 0,
    rules: tuple[str, ...] = (),
) -> Any:
    """One table row: inputs, the expected (action, level, percent) and the rule ids that must fire."""
    return pytest.param(
        source,
        regimen,
        cycle,
        day,
        {**OK, **(labs or {})},
        events,
        level,
        delay_days,
        consecutive_holds,
        expect,
        rules,
        id=clause,
    )


# fmt: off
ROWS = [
    # ---- sacituzumab govitecan (Trodelvy US PI Tables 1-2) -------------------------------------------------
    case("SG-ANC-D1 ANC 1.49 on Day 1: hold", SG, "sg", 2, 1, (HOLD, 0, 0), labs={"anc": 1.49},
        rules=("SG-ANC-D1",)),
    case("SG-ANC-D1 ANC exactly 1.5 on Day 1: give", SG, "sg", 2, 1, (GIVE, 0, 100), labs={"anc": 1.5}),
    case("SG-ANC-D8 ANC 0.99 on Day 8: hold", SG, "sg", 1, 8, (HOLD, 0, 0), labs={"anc": 0.99},
        rules=("SG-ANC-D8",)),
    case("SG-ANC-D8 ANC exactly 1.0 on Day 8: give", SG, "sg", 1, 8, (GIVE, 0, 100), labs={"anc": 1.0}),
    case("SG-ANC-D8 ANC 1.2 is enough on Day 8: give", SG, "sg", 1, 8, (GIVE, 0, 100), labs={"anc": 1.2}),
    case(
        "SG-FN-HOLD febrile neutropenia ongoing: hold, resume one level down",
        SG, "sg", 2, 1, (HOLD, -1, 0),
        labs={"anc": 1.6}, events=(ev("Febrile neutropenia", 3, 1, 12),),
        rules=("SG-FN-HOLD", "SG-FN-REDUCE"),
    ),
    case(
        "SG-FN-REDUCE resolved febrile neutropenia: reduce to 7.5 mg/kg",
        SG, "sg", 2, 1, (REDUCE, -1, 100), events=(FN_RESOLVED,), rules=("SG-FN-REDUCE",),
    ),
    case(
        "SG-FN-REDUCE grade 3 neutropenia flagged febrile counts as febrile neutropenia",
        SG, "sg", 2, 1, (REDUCE, -1, 100),
        events=(ev("neutropenia", 3, febrile=True, now=1),), rules=("SG-FN-REDUCE",),
    ),
    case(
        "SG-FN-REDUCE second occurrence: 5 mg/kg",
        SG, "sg", 3, 1, (REDUCE, -2, 100),
        events=(FN_RESOLVED, ev("Febrile neutropenia", 3, 2, 10, now=0)), level=-1,
        rules=("SG-FN-REDUCE",),
    ),
    case(
        "SG-NEUT-REDUCE prolonged grade 3 neutropenia (flag): reduce",
        SG, "sg", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, prolonged=True, now=1),),
        rules=("SG-NEUT-REDUCE",),
    ),
    case(
        "SG-NEUT-REDUCE grade 4 lasting 7 days is prolonged: reduce",
        SG, "sg", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 4, duration_days=7, now=0),),
        rules=("SG-NEUT-REDUCE",),
    ),
    case(
        "SG-NEUT-REDUCE grade 4 lasting 6 days is not prolonged: give",
        SG, "sg", 2, 1, (GIVE, 0, 100), events=(ev(NEUT, 4, duration_days=6, now=0),),
    ),
    case(
        "SG-NEUT-REDUCE grade 3 delaying a dose 14 days is prolonged: reduce",
        SG, "sg", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, dose_delay_days=14, now=1),),
        rules=("SG-NEUT-REDUCE",),
    ),
    case(
        "SG-NEUT-REDUCE grade 3 delaying a dose 13 days is not prolonged: give",
        SG, "sg", 2, 1, (GIVE, 0, 100),
        events=(ev(NEUT, 3, dose_delay_days=13, now=1),),
    ),
    case(
        "SG-NEUT-REDUCE grade 2 neutropenia is not grade 3-4 even if long: give",
        SG, "sg", 2, 1, (GIVE, 0, 100), events=(ev(NEUT, 2, prolonged=True, now=0),),
    ),
    case(
        "SG-GI-HOLD uncontrolled grade 3 diarrhoea still grade 2: hold, resume one level down",
        SG, "sg", 2, 1, (HOLD, -1, 0),
        events=(ev("Diarrhoea", 3, now=2),), rules=("SG-GI-HOLD", "SG-GI-REDUCE"),
    ),
    case(
        "SG-GI-REDUCE uncontrolled grade 3 diarrhoea back to grade 1: reduce",
        SG, "sg", 2, 1, (REDUCE, -1, 100), events=(ev("Diarrhea", 3, now=1),),
        rules=("SG-GI-REDUCE",),
    ),
    case(
        "SG-GI-REDUCE uncontrolled grade 4 vomiting: reduce",
        SG, "sg", 2, 1, (REDUCE, -1, 100), events=(ev("Vomiting", 4, now=0),),
        rules=("SG-GI-REDUCE",),
    ),
    case(
        "SG-GI-REDUCE uncontrolled grade 3 nausea: reduce",
        SG, "sg", 2, 1, (REDUCE, -1, 100), events=(ev("Nausea", 3, now=0),),
        rules=("SG-GI-REDUCE",),
    ),
    case(
        "SG-GI controlled grade 3 diarrhoea: no rule, give",
        SG, "sg", 2, 1, (GIVE, 0, 100), events=(ev("Diarrhea", 3, controlled=True, now=2),),
    ),
    case(
        "SG-GI uncontrolled grade 2 diarrhoea: no rule, give",
        SG, "sg", 2, 1, (GIVE, 0, 100), events=(ev("Diarrhea", 2, now=2),),
    ),
    case(
        "SG one event both febrile and prolonged counts once",
        SG, "sg", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 4, febrile=True, duration_days=8, now=0),),
        rules=("SG-FN-REDUCE",),
    ),
    case(
        "LADDER-END SG further reduction after 5 mg/kg: discontinue",
        SG, "sg", 4, 1, (STOP, None, 0),
        events=(FN_RESOLVED, ev("Febrile neutropenia", 3, 2, 9, now=0), ev("Diarrhea", 3, 3, 4, now=0)),
        level=-2, rules=("LADDER-END",),
    ),
    case(
        "SG discontinue takes precedence over hold",
        SG, "sg", 4, 1, (STOP, None, 0),
        labs={"anc": 1.0},
        events=(FN_RESOLVED, ev("Febrile neutropenia", 3, 2, 9, now=0), ev("Diarrhea", 3, 3, 4, now=0)),
        level=-2, rules=("LADDER-END", "SG-ANC-D1"),
    ),
    case("SG never re-escalate: stay at 7.5 mg/kg", SG, "sg", 3, 1, (GIVE, -1, 100), level=-1),
    case(
        "SG events after the evaluated day are ignored",
        SG, "sg", 2, 1, (GIVE, 0, 100), events=(ev("Febrile neutropenia", 3, 3, 5, now=0),),
    ),
    # ---- eribulin (Halaven US PI 2.2-2.3) ------------------------------------------------------------------
    case("ERI-ANC ANC 0.99 on Day 1: do not administer", ERI, "eribulin", 2, 1, (HOLD, 0, 0),
        labs={"anc": 0.99}, rules=("ERI-ANC",)),
    case("ERI-ANC ANC exactly 1.0 on Day 8: give", ERI, "eribulin", 2, 8, (GIVE, 0, 100), labs={"anc": 1.0}),
    case(
        "ERI-PLT platelets 74.9 on Day 8: do not administer",
        ERI, "eribulin", 2, 8, (HOLD, 0, 0), labs={"platelets": 74.9}, rules=("ERI-PLT",),
    ),
    case("ERI-PLT platelets exactly 75 on Day 1: give", ERI, "eribulin", 2, 1, (GIVE, 0, 100),
        labs={"platelets": 75}),
    case(
        "ERI-NONHAEM-HOLD grade 3 neuropathy now: do not administer, permanently reduce",
        ERI, "eribulin", 2, 8, (HOLD, -1, 0),
        events=(ev("Peripheral sensory neuropathy", 3, 2, 3),), rules=("ERI-NONHAEM-HOLD", "ERI-R-NONHAEM"),
    ),
    case(
        "ERI-NONHAEM-HOLD bilirubin 3.01 x ULN today (grade 3): do not administer",
        ERI, "eribulin", 2, 1, (HOLD, 0, 0), labs={"bilirubin": 3.01}, rules=("ERI-NONHAEM-HOLD",),
    ),
    case(
        "ERI-NONHAEM-HOLD improved to grade 2: give at the reduced dose",
        ERI, "eribulin", 2, 8, (REDUCE, -1, 100),
        events=(ev("Peripheral sensory neuropathy", 3, 2, 3, now=2),), rules=("ERI-R-NONHAEM",),
    ),
    case(
        "ERI-D8-DELAY not recovered by Day 15: omit, next cycle reduced",
        ERI, "eribulin", 2, 8, (OMIT, -1, 0), labs={"anc": 0.8}, delay_days=7,
        rules=("ERI-ANC", "ERI-D8-DELAY"),
    ),
    case(
        "ERI-D8-DELAY recovered by Day 15: give at a reduced dose",
        ERI, "eribulin", 2, 8, (REDUCE, -1, 100), labs={"anc": 1.5}, delay_days=7, rules=("ERI-D8-DELAY",),
    ),
    case(
        "ERI-D8-DELAY still unfit within the week: keep holding",
        ERI, "eribulin", 2, 8, (HOLD, 0, 0), labs={"anc": 0.8}, delay_days=3, rules=("ERI-ANC",),
    ),
    case(
        "ERI-D8-DELAY delay caused by a reducing event counts once",
        ERI, "eribulin", 2, 8, (REDUCE, -1, 100),
        events=(ev("Peripheral sensory neuropathy", 3, 2, 5, now=2),), delay_days=7,
        rules=("ERI-R-NONHAEM", "ERI-D8-DELAY"),
    ),
    case(
        "ERI-D8-DELAY a delayed Day 1 is not the Day 8 rule",
        ERI, "eribulin", 2, 1, (GIVE, 0, 100), labs={"anc": 1.5}, delay_days=7,
    ),
    case(
        "ERI-R-ANC-7D ANC < 500 for 8 days: permanently reduce",
        ERI, "eribulin", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 4, duration_days=8, now=0),),
        rules=("ERI-R-ANC-7D",),
    ),
    case(
        "ERI-R-ANC-7D ANC < 500 for exactly 7 days: no reduction",
        ERI, "eribulin", 2, 1, (GIVE, 0, 100), events=(ev(NEUT, 4, duration_days=7, now=0),),
    ),
    case(
        "ERI-R-ANC-FEVER ANC < 1000 with infection: permanently reduce",
        ERI, "eribulin", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, infection=True, now=0),),
        rules=("ERI-R-ANC-FEVER",),
    ),
    case(
        "ERI-R-ANC-FEVER febrile neutropenia: permanently reduce",
        ERI, "eribulin", 2, 1, (REDUCE, -1, 100), events=(FN_RESOLVED,), rules=("ERI-R-ANC-FEVER",),
    ),
    case(
        "ERI-R-PLT-25 platelets < 25,000: permanently reduce",
        ERI, "eribulin", 2, 1, (REDUCE, -1, 100),
        events=(ev("Platelet count decreased", 4, now=0),), rules=("ERI-R-PLT-25",),
    ),
    case(
        "ERI-R-PLT-50-TX platelets < 50,000 with transfusion: permanently reduce",
        ERI, "eribulin", 2, 1, (REDUCE, -1, 100),
        events=(ev("thrombocytopenia", 3, transfusion=True, now=0),), rules=("ERI-R-PLT-50-TX",),
    ),
    case(
        "ERI-R-PLT-50-TX platelets < 50,000 without transfusion: no reduction",
        ERI, "eribulin", 2, 1, (GIVE, 0, 100), events=(ev("Platelet count decreased", 3, now=0),),
    ),
    case(
        "ERI-R-NONHAEM resolved grade 3 diarrhoea: permanently reduce",
        ERI, "eribulin", 2, 1, (REDUCE, -1, 100), events=(ev("Diarrhea", 3, now=0),),
        rules=("ERI-R-NONHAEM",),
    ),
    case(
        "ERI-R-D8 Day 8 delayed for toxicity in the previous cycle: permanently reduce",
        ERI, "eribulin", 3, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, 2, 8, dose_delay_days=7, affected_dose_day=8, now=0),),
        rules=("ERI-R-D8",),
    ),
    case(
        "ERI-R-D8 Day 8 omitted for toxicity in the previous cycle: permanently reduce",
        ERI, "eribulin", 3, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, 2, 8, dose_omitted=True, affected_dose_day=8, now=0),),
        rules=("ERI-R-D8",),
    ),
    case(
        "ERI-R-D8 a delayed Day 1 dose is not a Day 8 delay",
        ERI, "eribulin", 3, 1, (GIVE, 0, 100),
        events=(ev(NEUT, 3, 2, 1, dose_delay_days=7, affected_dose_day=1, now=0),),
    ),
    case(
        "ERI recurrence while receiving 1.1 mg/m2: 0.7 mg/m2",
        ERI, "eribulin", 3, 1, (REDUCE, -2, 100),
        events=(FN_RESOLVED, ev("Diarrhea", 3, 2, 4, now=0)), level=-1, rules=("ERI-R-NONHAEM",),
    ),
    case(
        "LADDER-END eribulin recurrence while receiving 0.7 mg/m2: discontinue",
        ERI, "eribulin", 4, 1, (STOP, None, 0),
        events=(FN_RESOLVED, ev("Diarrhea", 3, 2, 4, now=0), ev("Platelet count decreased", 4, 3, 10, now=0)),
        level=-2, rules=("LADDER-END",),
    ),
    case(
        "ERI-RENAL creatinine clearance 49 mL/min: 1.1 mg/m2",
        ERI, "eribulin", 1, 1, (REDUCE, -1, 100), labs={"creatinine_clearance": 49}, rules=("ERI-RENAL",),
    ),
    case(
        "ERI-RENAL creatinine clearance exactly 15 mL/min: 1.1 mg/m2",
        ERI, "eribulin", 1, 1, (REDUCE, -1, 100), labs={"creatinine_clearance": 15}, rules=("ERI-RENAL",),
    ),
    case(
        "ERI-RENAL creatinine clearance exactly 50 mL/min: full dose",
        ERI, "eribulin", 1, 1, (GIVE, 0, 100), labs={"creatinine_clearance": 50},
    ),
    case(
        "ERI-RENAL start at 1.1 then one occurrence: 0.7 mg/m2",
        ERI, "eribulin", 2, 1, (REDUCE, -2, 100),
        labs={"creatinine_clearance": 40}, events=(FN_RESOLVED,), level=-1, rules=("ERI-R-ANC-FEVER",),
    ),
    # ---- capecitabine (PI dose-modification table) ---------------------------------------------------------
    case(
        "CAP-START-ANC baseline neutrophils 1.49: do not start",
        CAP, "capecitabine", 1, 1, (HOLD, 0, 0), labs={"anc": 1.49}, rules=("CAP-START-ANC",),
    ),
    case("CAP-START-ANC baseline neutrophils exactly 1.5: start", CAP, "capecitabine", 1, 1, (GIVE, 0, 100),
        labs={"anc": 1.5}),
    case(
        "CAP-START-ANC applies to the start only: cycle 2 ANC 1.49 (grade 2) gives",
        CAP, "capecitabine", 2, 1, (GIVE, 0, 100), labs={"anc": 1.49},
    ),
    case(
        "CAP-START-PLT baseline platelets 99.9: do not start",
        CAP, "capecitabine", 1, 1, (HOLD, 0, 0), labs={"platelets": 99.9}, rules=("CAP-START-PLT",),
    ),
    case("CAP-START-PLT baseline platelets exactly 100: start", CAP, "capecitabine", 1, 1, (GIVE, 0, 100),
        labs={"platelets": 100}),
    case(
        "CAP-INTERRUPT grade 2 diarrhoea ongoing: interrupt",
        CAP, "capecitabine", 1, 8, (HOLD, 0, 0), events=(ev("Diarrhea", 2, 1, 6),), rules=("CAP-INTERRUPT",),
    ),
    case(
        "CAP-INTERRUPT grade 3 hand-foot syndrome ongoing: interrupt, resume at 75 %",
        CAP, "capecitabine", 2, 1, (HOLD, -1, 0),
        events=(ev("Palmar-plantar erythrodysesthesia syndrome", 3, 1, 12, now=2),),
        rules=("CAP-INTERRUPT", "CAP-LADDER"),
    ),
    case(
        "CAP-INTERRUPT grade 3 neutropenia on today's labs: interrupt",
        CAP, "capecitabine", 2, 8, (HOLD, 0, 0), labs={"anc": 0.99}, rules=("CAP-INTERRUPT",),
    ),
    case(
        "CAP-INTERRUPT grade 2 bilirubin on today's labs: interrupt",
        CAP, "capecitabine", 2, 8, (HOLD, 0, 0), labs={"bilirubin": 1.51}, rules=("CAP-INTERRUPT",),
    ),
    case(
        "CAP-INTERRUPT exempt toxicity (alopecia grade 2): continue",
        CAP, "capecitabine", 2, 1, (GIVE, 0, 100), events=(ev("Alopecia", 2, 1, 12),),
    ),
    case(
        "CAP-LADDER grade 2 first appearance: 100 %",
        CAP, "capecitabine", 2, 1, (GIVE, 0, 100), events=(ev("Diarrhea", 2, 1, 5, now=0),),
    ),
    case(
        "CAP-LADDER grade 2 second appearance: 75 %",
        CAP, "capecitabine", 3, 1, (REDUCE, -1, 100),
        events=(ev("Diarrhea", 2, 1, 5, now=0), ev("Diarrhea", 2, 2, 5, now=0)),
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER grade 2 third appearance: 50 %",
        CAP, "capecitabine", 4, 1, (REDUCE, -2, 100),
        events=tuple(ev("Diarrhea", 2, c, 5, now=0) for c in (1, 2, 3)), level=-1,
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER grade 2 fourth appearance: discontinue",
        CAP, "capecitabine", 5, 1, (STOP, None, 0),
        events=tuple(ev("Diarrhea", 2, c, 5, now=0) for c in (1, 2, 3, 4)), level=-2,
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER grade 3 first appearance: 75 %",
        CAP, "capecitabine", 2, 1, (REDUCE, -1, 100), events=(ev("Diarrhea", 3, 1, 5, now=0),),
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER grade 3 second appearance: 50 %",
        CAP, "capecitabine", 3, 1, (REDUCE, -2, 100),
        events=(ev("Diarrhea", 3, 1, 5, now=0), ev("Diarrhea", 3, 2, 5, now=0)), level=-1,
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER grade 3 third appearance: discontinue",
        CAP, "capecitabine", 4, 1, (STOP, None, 0),
        events=tuple(ev("Diarrhea", 3, c, 5, now=0) for c in (1, 2, 3)), level=-2,
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER grade 4 first appearance: discontinue",
        CAP, "capecitabine", 2, 1, (STOP, None, 0), events=(ev("Diarrhea", 4, 1, 5, now=0),),
        rules=("CAP-LADDER",),
    ),
    case(
        "CAP-LADDER appearances count per toxicity: grade 2 diarrhoea then grade 2 nausea stay at 100 %",
        CAP, "capecitabine", 3, 1, (GIVE, 0, 100),
        events=(ev("Diarrhea", 2, 1, 5, now=0), ev("Nausea", 2, 2, 5, now=0)),
    ),
    case(
        "CAP-LADDER haematological grade 2 does not count",
        CAP, "capecitabine", 3, 1, (GIVE, 0, 100),
        events=(ev(NEUT, 2, 1, 8, now=0), ev(NEUT, 2, 2, 8, now=0)),
    ),
    case(
        "CAP-LADDER haematological grade 3 counts: 75 %",
        CAP, "capecitabine", 2, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, 1, 8, now=1),), rules=("CAP-LADDER",),
    ),
    # ---- gemcitabine (Gemzar breast Day-8 table; Pfizer PI Day 1) ------------------------------------------
    case("GEM-D1-ANC Day 1 ANC 1.49: withhold", GEM, "gemcitabine", 2, 1, (HOLD, 0, 0), labs={"anc": 1.49},
        rules=("GEM-D1-ANC",)),
    case("GEM-D1-ANC Day 1 ANC exactly 1.5: give", GEM, "gemcitabine", 2, 1, (GIVE, 0, 100),
        labs={"anc": 1.5}),
    case(
        "GEM-D1-PLT Day 1 platelets 99.9: withhold",
        GEM, "gemcitabine", 2, 1, (HOLD, 0, 0), labs={"platelets": 99.9}, rules=("GEM-D1-PLT",),
    ),
    case("GEM-D8-HOLD Day 8 ANC 0.69: hold", GEM, "gemcitabine", 1, 8, (HOLD, 0, 0), labs={"anc": 0.69},
        rules=("GEM-D8-HOLD",)),
    case(
        "GEM-D8-HOLD Day 8 platelets 49.9: hold",
        GEM, "gemcitabine", 1, 8, (HOLD, 0, 0), labs={"platelets": 49.9}, rules=("GEM-D8-HOLD",),
    ),
    case("GEM-D8-50 Day 8 ANC exactly 0.7: 50 %", GEM, "gemcitabine", 1, 8, (GIVE, 0, 50),
        labs={"anc": 0.7}, rules=("GEM-D8-50",)),
    case("GEM-D8-50 Day 8 ANC 0.99: 50 %", GEM, "gemcitabine", 1, 8, (GIVE, 0, 50), labs={"anc": 0.99},
        rules=("GEM-D8-50",)),
    case("GEM-D8-75 Day 8 ANC exactly 1.0: 75 %", GEM, "gemcitabine", 1, 8, (GIVE, 0, 75),
        labs={"anc": 1.0}, rules=("GEM-D8-75",)),
    case("GEM-D8-75 Day 8 ANC 1.19: 75 %", GEM, "gemcitabine", 1, 8, (GIVE, 0, 75), labs={"anc": 1.19},
        rules=("GEM-D8-75",)),
    case(
        "GEM-D8-75 Day 8 platelets exactly 75: 75 %",
        GEM, "gemcitabine", 1, 8, (GIVE, 0, 75), labs={"platelets": 75}, rules=("GEM-D8-75",),
    ),
    case(
        "GEM-D8-75 Day 8 platelets exactly 50: 75 %",
        GEM, "gemcitabine", 1, 8, (GIVE, 0, 75), labs={"platelets": 50}, rules=("GEM-D8-75",),
    ),
    case(
        "GEM-D8 full dose at ANC 1.2 and platelets 75.1",
        GEM, "gemcitabine", 1, 8, (GIVE, 0, 100), labs={"anc": 1.2, "platelets": 75.1},
    ),
    case("GEM-D8 the table applies on Day 15 too", GEM, "gemcitabine", 1, 15, (GIVE, 0, 50),
        labs={"anc": 0.8}, rules=("GEM-D8-50",)),
    case(
        "GEM-D8 the table does not apply on Day 1",
        GEM, "gemcitabine", 2, 1, (GIVE, 0, 100), labs={"anc": 1.6, "platelets": 120},
    ),
    case(
        "GEM-D8 same-day percent of a reduced level",
        GEM, "gemcitabine", 2, 8, (GIVE, -1, 75), labs={"anc": 1.1}, level=-1, rules=("GEM-D8-75",),
    ),
    case(
        "GEM-NONHAEM-HOLD grade 3 neuropathy still grade 2: withhold",
        GEM, "gemcitabine", 2, 1, (HOLD, 0, 0),
        events=(ev("Peripheral sensory neuropathy", 3, 1, 20, now=2),), rules=("GEM-NONHAEM-HOLD",),
    ),
    case(
        "GEM-NONHAEM-HOLD resolved to grade 1: give",
        GEM, "gemcitabine", 2, 1, (GIVE, 0, 100),
        events=(ev("Peripheral sensory neuropathy", 3, 1, 20, now=1),),
    ),
    case(
        "GEM-NONHAEM-HOLD nausea is excepted: give",
        GEM, "gemcitabine", 2, 1, (GIVE, 0, 100), events=(ev("Nausea", 3, 1, 20, now=3),),
    ),
    case(
        "GEM-NONHAEM-HOLD AST 5.01 x ULN today (grade 3): withhold",
        GEM, "gemcitabine", 2, 1, (HOLD, 0, 0), labs={"ast": 5.01}, rules=("GEM-NONHAEM-HOLD",),
    ),
    # ---- vinorelbine (PI 2.2-2.3) --------------------------------------------------------------------------
    case("VIN-ANC-HOLD ANC 0.99: hold", VIN, "vinorelbine", 1, 1, (HOLD, 0, 0), labs={"anc": 0.99},
        rules=("VIN-ANC-HOLD",)),
    case("VIN-ANC-50 ANC exactly 1.0: 50 %", VIN, "vinorelbine", 1, 1, (GIVE, 0, 50), labs={"anc": 1.0},
        rules=("VIN-ANC-50",)),
    case("VIN-ANC-50 ANC 1.49: 50 %", VIN, "vinorelbine", 1, 1, (GIVE, 0, 50), labs={"anc": 1.49},
        rules=("VIN-ANC-50",)),
    case("VIN-ANC full dose at ANC exactly 1.5", VIN, "vinorelbine", 1, 1, (GIVE, 0, 100), labs={"anc": 1.5}),
    case(
        "VIN-FN fever while neutropenic: 75 %",
        VIN, "vinorelbine", 3, 1, (REDUCE, -1, 100), events=(ev("Febrile neutropenia", 3, 2, 3, now=0),),
        rules=("VIN-FN",),
    ),
    case(
        "VIN-FN sepsis while neutropenic: 75 %",
        VIN, "vinorelbine", 3, 1, (REDUCE, -1, 100),
        events=(ev(NEUT, 3, 2, 3, infection=True, now=0),),
        rules=("VIN-FN",),
    ),
    case(
        "VIN-FN with ANC 1.2: 37.5 % of the starting dose",
        VIN, "vinorelbine", 3, 1, (REDUCE, -1, 50),
        labs={"anc": 1.2}, events=(ev("Febrile neutropenia", 3, 2, 3, now=0),),
        rules=("VIN-FN", "VIN-ANC-50"),
    ),
    case(
        "VIN-FN a second episode stays at 75 %",
        VIN, "vinorelbine", 5, 1, (GIVE, -1, 100),
        events=(ev("Febrile neutropenia", 3, 2, 3, now=0), ev("Febrile neutropenia", 3, 4, 3, now=0)),
        level=-1,
    ),
    case(
        "VIN-HOLDS two consecutive weekly holds: 75 %",
        VIN, "vinorelbine", 4, 1, (REDUCE, -1, 100), consecutive_holds=2, rules=("VIN-HOLDS",),
    ),
    case(
        "VIN-HOLDS third consecutive weekly hold: discontinue",
        VIN, "vinorelbine", 4, 1, (STOP, None, 0), labs={"anc": 0.9}, consecutive_holds=2,
        rules=("VIN-HOLDS", "VIN-ANC-HOLD"),
    ),
    case(
        "VIN-HOLDS second consecutive hold: hold",
        VIN, "vinorelbine", 4, 1, (HOLD, 0, 0), labs={"anc": 0.9}, consecutive_holds=1,
        rules=("VIN-ANC-HOLD",),
    ),
    case(
        "VIN-BILI-50 total bilirubin 2.1 mg/dL: 50 %",
        VIN, "vinorelbine", 1, 1, (GIVE, 0, 50), labs={"bilirubin_mg_dl": 2.1}, rules=("VIN-BILI-50",),
    ),
    case("VIN-BILI full dose at bilirubin exactly 2.0 mg/dL", VIN, "vinorelbine", 1, 1, (GIVE, 0, 100),
        labs={"bilirubin_mg_dl": 2.0}),
    case(
        "VIN-BILI-50 total bilirubin exactly 3.0 mg/dL: 50 %",
        VIN, "vinorelbine", 1, 1, (GIVE, 0, 50), labs={"bilirubin_mg_dl": 3.0}, rules=("VIN-BILI-50",),
    ),
    case(
        "VIN-BILI-25 total bilirubin 3.01 mg/dL: 25 %",
        VIN, "vinorelbine", 1, 1, (GIVE, 0, 25), labs={"bilirubin_mg_dl": 3.01}, rules=("VIN-BILI-25",),
    ),
    case(
        "VIN lower of haematological and hepatic: ANC 1.2 (50 %) and bilirubin 3.5 (25 %) give 25 %",
        VIN, "vinorelbine", 1, 1, (GIVE, 0, 25), labs={"anc": 1.2, "bilirubin_mg_dl": 3.5},
        rules=("VIN-ANC-50", "VIN-BILI-25"),
    ),
]
# fmt: on


@pytest.mark.parametrize(
    ("source", "regimen_id", "cycle", "day", "labs", "events", "level", "delay", "holds", "expect", "rules"), ROWS
)
def test_rule_clause(
    ever: Protocol,
    source: str,
    regimen_id: str,
    cycle: int,
    day: int,
    labs: dict[str, float],
    events: tuple[ToxicityEvent, ...],
    level: int,
    delay: int,
    holds: int,
    expect: tuple[DoseAction, int | None, float],
    rules: tuple[str, ...],
) -> None:
    """Each row is one clause of the drug's label (``source`` column; facts file section 4): the decision's
    action, level and same-day percent, and the rule ids that must appear among its findings."""
    regimen = ever.regimen(regimen_id)
    decision = evaluate_dose(
        regimen, cycle, day, Labs(**labs), events, level, delay_days=delay, consecutive_holds=holds
    )
    action, new_level, percent = expect
    assert (decision.action, decision.level) == (action, new_level), decision.reason
    assert decision.percent == pytest.approx(percent)
    fired = {f.rule_id for f in decision.findings}
    assert set(rules) <= fired, (source, decision.reason)
    if not rules:
        assert decision.findings == ()
    if decision.given:
        assert decision.dose == pytest.approx(regimen.level_amount(new_level or 0) * percent / 100)
    else:
        assert decision.dose == 0.0
    assert decision.source


def _all_rule_ids() -> set[str]:
    ids = {"LADDER-END"}
    for drug in RULES.values():
        for row in drug.rows:
            if isinstance(row, LabBands):
                ids |= {band.id for band in row.rows}
            else:
                ids.add(row.id)
    return ids


def test_every_rule_row_has_a_test_row() -> None:
    """Every rule row of every drug (and LADDER-END) is exercised by a named row of ``ROWS`` above."""
    tested = {rule for row in ROWS for rule in row.values[-1]}
    assert _all_rule_ids() <= tested, sorted(_all_rule_ids() - tested)


def test_vinorelbine_hepatic_percent_is_of_the_starting_dose(ever: Protocol) -> None:
    """Vinorelbine PI 2.3: the hepatic table is a percent of the starting dose (25 mg/m2), applied as the lower of
    the haematological and hepatic adjustments; at the 75 % level bilirubin 2.5 mg/dL gives 12.5 mg/m2."""
    decision = evaluate_dose(ever.regimen("vinorelbine"), 5, 1, Labs(anc=2.0, bilirubin_mg_dl=2.5), (), -1)
    assert decision.action is DoseAction.GIVE
    assert decision.dose == pytest.approx(12.5)
    assert decision.percent == pytest.approx(100 * 12.5 / 18.75)


def test_optional_lab_missing_is_reported_unchecked(ever: Protocol) -> None:
    """Rules reading an optional lab (vinorelbine bilirubin, eribulin CrCl) are listed as unchecked without it."""
    vin = evaluate_dose(ever.regimen("vinorelbine"), 1, 1, Labs(anc=2.0), (), 0)
    eri = evaluate_dose(ever.regimen("eribulin"), 1, 1, Labs(anc=2.0, platelets=100), (), 0)
    assert vin.unchecked == ("VIN-HEP",)
    assert eri.unchecked == ("ERI-RENAL",)


def test_evaluation_is_idempotent(ever: Protocol) -> None:
    """Re-evaluating a held dose with the level the hold returned gives the same level (no double reduction)."""
    sg = ever.regimen("sg")
    events = (ev("Febrile neutropenia", 3, 1, 12),)
    first = evaluate_dose(sg, 2, 1, Labs(anc=1.2), events, 0)
    assert first.action is DoseAction.HOLD and first.level == -1
    recovered = (ev("Febrile neutropenia", 3, 1, 12, now=0),)
    again = evaluate_dose(sg, 2, 1, Labs(anc=1.8), recovered, first.level or 0, delay_days=7)
    assert again.action is DoseAction.GIVE and again.level == -1 and again.dose == 7.5


def test_same_rules_for_the_sibling_trial(tropics: Protocol) -> None:
    """Rules are keyed by Regimen.drug, so TROPiCS-02's regimens use them unchanged."""
    for regimen in tropics.regimens:
        decision = evaluate_dose(regimen, 2, regimen.dosing_days[0], Labs(**OK), (FN_RESOLVED,), 0)
        assert decision.action in (DoseAction.REDUCE, DoseAction.GIVE)


def test_decision_plain_data(ever: Protocol) -> None:
    """DoseDecision.to_data: the keys the CLI's --json and the audit rows rely on."""
    decision = evaluate_dose(ever.regimen("sg"), 1, 1, Labs(anc=2.0), (), 0)
    data = decision.to_data()
    assert list(data) == [
        "action", "regimen", "drug", "cycle", "day", "previous_level", "level", "dose", "unit", "percent",
        "level_dose", "reason", "source", "findings", "unchecked",
    ]  # fmt: skip
    assert data["reason"] == "no dose-modification rule applies: give at level 0"
    assert "Trodelvy" in data["source"]
    json.dumps(data)


# ---- input errors --------------------------------------------------------------------------------------------

CALL_ERRORS = [
    pytest.param({"drug": "paclitaxel"}, {}, "no dose-modification rules for drug 'paclitaxel'", id="unknown-drug"),
    pytest.param({}, {"day": 3}, "day 3 is not a dosing day of regimen 'sg' (days 1, 8", id="not-a-dosing-day"),
    pytest.param({}, {"current_level": -3}, "current level -3 is not a level", id="level-below-ladder"),
    pytest.param({}, {"current_level": 1}, "current level 1 is not a level", id="level-above-start"),
    pytest.param({}, {"cycle": 0}, "cycle must be an integer >= 1", id="cycle-0"),
    pytest.param({}, {"labs": Labs(platelets=100)}, "labs.anc (10^9/L) is needed", id="missing-anc"),
    pytest.param({}, {"delay_days": -1}, "delay_days must be an integer >= 0", id="negative-delay"),
    pytest.param({}, {"history": ({"term": "Nausea"},)}, "must be ToxicityEvent", id="history-not-events"),
]


@pytest.mark.parametrize(("regimen_update", "call", "message"), CALL_ERRORS)
def test_call_errors(ever: Protocol, regimen_update: dict[str, Any], call: dict[str, Any], message: str) -> None:
    """Bad calls raise DoseModificationError (a TrialtwinError) naming the value."""
    regimen = ever.regimen("sg").model_copy(update=regimen_update)
    args: dict[str, Any] = {"cycle": 1, "day": 1, "labs": Labs(anc=2.0), "history": (), "current_level": 0}
    args.update(call)
    with pytest.raises(DoseModificationError) as info:
        evaluate_dose(
            regimen,
            args["cycle"],
            args["day"],
            args["labs"],
            args["history"],
            args["current_level"],
            delay_days=args.get("delay_days", 0),
        )
    assert isinstance(info.value, TrialtwinError)
    assert message in str(info.value)


EVENT_ERRORS = [
    pytest.param({"term": "", "grade": 3, "cycle": 1, "day": 1}, "term must be a non-empty string", id="empty-term"),
    pytest.param({"term": "Nausea", "grade": 6, "cycle": 1, "day": 1}, "grade must be 1-5", id="grade-6"),
    pytest.param({"term": "Nausea", "grade": 0, "cycle": 1, "day": 1}, "grade must be an integer >= 1", id="grade-0"),
    pytest.param(
        {"term": "Nausea", "grade": 2, "cycle": 1, "day": 1, "current_grade": 3}, "current_grade", id="current-above"
    ),
    pytest.param({"term": "Nausea", "grade": 2, "cycle": 0, "day": 1}, "cycle must be", id="cycle-0"),
    pytest.param(
        {"term": "Nausea", "grade": 2, "cycle": 1, "day": 1, "duration_days": -2}, "duration_days", id="neg-duration"
    ),
    pytest.param({"term": "Nausea", "grade": 2, "cycle": 1, "day": 1, "febrile": "yes"}, "febrile must be", id="flag"),
    pytest.param({"term": "Nausea", "grade": 2, "cycle": 1, "day": 1, "severity": 2}, "unknown field", id="unknown"),
    pytest.param({"term": "Nausea", "cycle": 1, "day": 1}, "missing grade", id="missing-grade"),
    pytest.param({"term": "Nausea", "grade": "3", "cycle": 1, "day": 1}, "grade must be an integer", id="grade-str"),
]


@pytest.mark.parametrize(("item", "message"), EVENT_ERRORS)
def test_event_errors(item: dict[str, Any], message: str) -> None:
    """Malformed history items name the file, the item index and the field."""
    with pytest.raises(DoseModificationError) as info:
        events_from_data([item], source="hist.json")
    assert str(info.value).startswith("hist.json: events[0]")
    assert message in str(info.value)


def test_history_example_file() -> None:
    """docs/examples/history-example.json parses ({"events": [...]} form); the bare list form works too."""
    data = json.loads((EXAMPLES / "history-example.json").read_text(encoding="utf-8"))
    events = events_from_data(data, source="history-example.json")
    assert [e.name for e in events][:2] == ["Neutrophil count decreased", "Febrile neutropenia"]
    assert events_from_data(data["events"]) == events
    with pytest.raises(DoseModificationError, match="expected a list of toxicity events"):
        events_from_data({"items": []})


LAB_CONVERSIONS = [
    pytest.param({"anc": 1.2}, "anc", 1.2, id="anc-plain-number"),
    pytest.param({"anc": {"value": 1200, "unit": "/uL"}}, "anc", 1.2, id="anc-per-uL"),
    pytest.param({"platelets": {"value": 75000, "unit": "/mm3"}}, "platelets", 75.0, id="platelets-per-mm3"),
    pytest.param({"hemoglobin": {"value": 95, "unit": "g/L"}}, "hemoglobin", 9.5, id="hb-g-per-L"),
    pytest.param({"bilirubin": {"value": 2.4, "unit": "mg/dL", "uln": 1.2}}, "bilirubin", 2.0, id="bili-mgdl"),
    pytest.param({"bilirubin": {"value": 42, "unit": "umol/L", "uln": 21}}, "bilirubin", 2.0, id="bili-umol"),
    pytest.param({"alt": {"value": 120, "unit": "U/L", "uln": 40}}, "alt", 3.0, id="alt-U-per-L"),
    pytest.param({"ast": {"value": 2.5, "unit": "xULN"}}, "ast", 2.5, id="ast-xuln"),
    pytest.param({"anc": None}, "anc", None, id="null-is-not-measured"),
]


@pytest.mark.parametrize(("data", "field", "value"), LAB_CONVERSIONS)
def test_lab_conversions(data: dict[str, Any], field: str, value: float | None) -> None:
    """Labs JSON: numbers in the canonical unit, or {value, unit[, uln]} converted (1.2 x 10^9/L = 1200 /uL)."""
    got = getattr(labs_from_data(data), field)
    assert got == (None if value is None else pytest.approx(value))


LAB_ERRORS = [
    pytest.param({"neutrophils": 1.2}, "unknown lab 'neutrophils'", id="unknown-lab"),
    pytest.param({"anc": "1.2"}, "anc must be a number", id="string-value"),
    pytest.param({"anc": True}, "anc must be a number", id="bool-value"),
    pytest.param({"anc": -1}, "labs.anc must be >= 0", id="negative"),
    pytest.param({"anc": {"value": 1.2, "unit": "g/L"}}, "unit 'g/L' is not accepted", id="wrong-unit"),
    pytest.param({"ast": {"value": 120, "unit": "U/L"}}, "needs the ULN", id="missing-uln"),
    pytest.param({"ast": {"value": 120, "unit": "U/L", "uln": 0}}, "uln must be positive", id="zero-uln"),
    pytest.param({"anc": {"amount": 1.2}}, "expected a number or {value, unit[, uln]}", id="bad-object"),
    pytest.param([1.2], "expected an object of lab values", id="not-an-object"),
]


@pytest.mark.parametrize(("data", "message"), LAB_ERRORS)
def test_lab_errors(data: Any, message: str) -> None:
    """Malformed labs name the file and the lab."""
    with pytest.raises(DoseModificationError) as info:
        labs_from_data(data, source="labs.json")
    assert str(info.value).startswith("labs.json")
    assert message in str(info.value)


def test_labs_example_file() -> None:
    """docs/examples/labs-example.json parses, with its unit conversions."""
    data = json.loads((EXAMPLES / "labs-example.json").read_text(encoding="utf-8"))
    labs = labs_from_data(data, source="labs-example.json")
    assert labs.platelets == pytest.approx(182.0)
    assert labs.bilirubin == pytest.approx(0.75)
    assert labs.alt == pytest.approx(1.3)
