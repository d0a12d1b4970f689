"""NCI CTCAE v5.0 (27 Nov 2017) criteria used by trialtwin, as data.

Rows are transcribed from the Common Terminology Criteria for Adverse Events, Version 5.0, U.S. Department of
Health and Human Services, National Cancer Institute, published 27 November 2017. Only the terms the EVER-132-002
rules need are here; adding a term is adding rows, not code (``trialtwin.engine.toxicity`` builds its look-up
tables from these tuples once, at import).

Conventions of the tables:

* Lab thresholds are in one canonical unit per term (counts 10^9/L, haemoglobin g/dL, liver and kidney tests as
  multiples of the upper limit of normal, xULN); ``toxicity.grade_lab`` converts other units.
* ``LAB_THRESHOLDS`` gives, for each grade from 2 upward, the bound that opens that grade. For a *decreased*
  term the grade applies when the value is **strictly below** the bound (neutrophils: grade 2 "<1.5 - 1.0", so
  1.0 itself is grade 2 and grade 3 starts below 1.0); for an *increased* term when it is **strictly above**
  (AST: grade 2 ">3.0 - 5.0 x ULN", so 5.0 x ULN itself is grade 2). Grade 1 is opened by the normal limit (LLN
  or ULN) itself; a value within normal limits is grade 0.
* Grades a number cannot give (anaemia grade 4 "life-threatening consequences") are graded from clinical facts
  by ``grade_term`` or recorded as events; they have no row in ``LAB_THRESHOLDS``.
* Liver tests use the "baseline was normal" column of v5.0; the "baseline was abnormal" column (multiples of
  the patient's baseline) is not encoded.
"""

from __future__ import annotations

VERSION = "5.0"
SOURCE = "NCI CTCAE v5.0 (27 Nov 2017)"

#: term (CTCAE spelling), MedDRA v20.1 lowest-level-term code, MedDRA system organ class.
TERMS: tuple[tuple[str, int, str], ...] = (
    ("Neutrophil count decreased", 10029366, "Investigations"),
    ("Platelet count decreased", 10035528, "Investigations"),
    ("White blood cell decreased", 10049182, "Investigations"),
    ("Anemia", 10002272, "Blood and lymphatic system disorders"),
    ("Blood bilirubin increased", 10005364, "Investigations"),
    ("Aspartate aminotransferase increased", 10003481, "Investigations"),
    ("Alanine aminotransferase increased", 10001551, "Investigations"),
    ("Creatinine increased", 10011368, "Investigations"),
    ("Febrile neutropenia", 10016288, "Blood and lymphatic system disorders"),
    ("Diarrhea", 10012735, "Gastrointestinal disorders"),
    ("Nausea", 10028813, "Gastrointestinal disorders"),
    ("Vomiting", 10047700, "Gastrointestinal disorders"),
)

#: Other spellings accepted for a term (case-insensitive): British spelling, short names, MedDRA synonyms.
ALIASES: tuple[tuple[str, str], ...] = (
    ("neutrophils", "Neutrophil count decreased"),
    ("neutropenia", "Neutrophil count decreased"),
    ("neutropaenia", "Neutrophil count decreased"),
    ("anc", "Neutrophil count decreased"),
    ("platelets", "Platelet count decreased"),
    ("thrombocytopenia", "Platelet count decreased"),
    ("thrombocytopaenia", "Platelet count decreased"),
    ("white blood cell count decreased", "White blood cell decreased"),
    ("wbc decreased", "White blood cell decreased"),
    ("wbc", "White blood cell decreased"),
    ("leukopenia", "White blood cell decreased"),
    ("leucopenia", "White blood cell decreased"),
    ("anaemia", "Anemia"),
    ("hemoglobin", "Anemia"),
    ("haemoglobin", "Anemia"),
    ("bilirubin", "Blood bilirubin increased"),
    ("bilirubin increased", "Blood bilirubin increased"),
    ("ast increased", "Aspartate aminotransferase increased"),
    ("ast", "Aspartate aminotransferase increased"),
    ("alt increased", "Alanine aminotransferase increased"),
    ("alt", "Alanine aminotransferase increased"),
    ("creatinine", "Creatinine increased"),
    ("diarrhoea", "Diarrhea"),
)

#: Laboratory terms graded from one value: term, direction, canonical unit.
LAB_TERMS: tuple[tuple[str, str, str], ...] = (
    ("Neutrophil count decreased", "decreased", "10^9/L"),
    ("Platelet count decreased", "decreased", "10^9/L"),
    ("White blood cell decreased", "decreased", "10^9/L"),
    ("Anemia", "decreased", "g/dL"),
    ("Blood bilirubin increased", "increased", "xULN"),
    ("Aspartate aminotransferase increased", "increased", "xULN"),
    ("Alanine aminotransferase increased", "increased", "xULN"),
    ("Creatinine increased", "increased", "xULN"),
)

#: term, grade, bound opening that grade (canonical unit; "<" for decreased, ">" for increased terms).
LAB_THRESHOLDS: tuple[tuple[str, int, float], ...] = (
    ("Neutrophil count decreased", 2, 1.5),
    ("Neutrophil count decreased", 3, 1.0),
    ("Neutrophil count decreased", 4, 0.5),
    ("Platelet count decreased", 2, 75.0),
    ("Platelet count decreased", 3, 50.0),
    ("Platelet count decreased", 4, 25.0),
    ("White blood cell decreased", 2, 3.0),
    ("White blood cell decreased", 3, 2.0),
    ("White blood cell decreased", 4, 1.0),
    ("Anemia", 2, 10.0),
    ("Anemia", 3, 8.0),
    ("Blood bilirubin increased", 2, 1.5),
    ("Blood bilirubin increased", 3, 3.0),
    ("Blood bilirubin increased", 4, 10.0),
    ("Aspartate aminotransferase increased", 2, 3.0),
    ("Aspartate aminotransferase increased", 3, 5.0),
    ("Aspartate aminotransferase increased", 4, 20.0),
    ("Alanine aminotransferase increased", 2, 3.0),
    ("Alanine aminotransferase increased", 3, 5.0),
    ("Alanine aminotransferase increased", 4, 20.0),
    ("Creatinine increased", 2, 1.5),
    ("Creatinine increased", 3, 3.0),
    ("Creatinine increased", 4, 6.0),
)

#: Units a lab value may come in: canonical unit, accepted unit, how many accepted units make one canonical
#: unit (1.5 x 10^9/L = 1500 /uL), and whether the value is relative to a ULN given in the same unit.
LAB_UNITS: tuple[tuple[str, str, float, bool], ...] = (
    ("10^9/L", "10^9/L", 1.0, False),
    ("10^9/L", "/uL", 1000.0, False),
    ("10^9/L", "/mm3", 1000.0, False),
    ("g/dL", "g/dL", 1.0, False),
    ("g/dL", "g/L", 10.0, False),
    ("xULN", "xULN", 1.0, False),
)

#: Absolute units accepted for the ULN-relative terms (the value is divided by a ULN given in the same unit).
ULN_RELATIVE_UNITS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Blood bilirubin increased", ("mg/dL", "umol/L")),
    ("Creatinine increased", ("mg/dL", "umol/L")),
    ("Aspartate aminotransferase increased", ("U/L",)),
    ("Alanine aminotransferase increased", ("U/L",)),
)

#: Official grade wording (grades 1-4; grade 5 is "Death" for every term that has it).
GRADE_TEXT: tuple[tuple[str, int, str], ...] = (
    ("Neutrophil count decreased", 1, "<LLN - 1500/mm3; <LLN - 1.5 x 10e9 /L"),
    ("Neutrophil count decreased", 2, "<1500 - 1000/mm3; <1.5 - 1.0 x 10e9 /L"),
    ("Neutrophil count decreased", 3, "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L"),
    ("Neutrophil count decreased", 4, "<500/mm3; <0.5 x 10e9 /L"),
    ("Platelet count decreased", 1, "<LLN - 75,000/mm3; <LLN - 75.0 x 10e9 /L"),
    ("Platelet count decreased", 2, "<75,000 - 50,000/mm3; <75.0 - 50.0 x 10e9 /L"),
    ("Platelet count decreased", 3, "<50,000 - 25,000/mm3; <50.0 - 25.0 x 10e9 /L"),
    ("Platelet count decreased", 4, "<25,000/mm3; <25.0 x 10e9 /L"),
    ("White blood cell decreased", 1, "<LLN - 3000/mm3; <LLN - 3.0 x 10e9 /L"),
    ("White blood cell decreased", 2, "<3000 - 2000/mm3; <3.0 - 2.0 x 10e9 /L"),
    ("White blood cell decreased", 3, "<2000 - 1000/mm3; <2.0 - 1.0 x 10e9 /L"),
    ("White blood cell decreased", 4, "<1000/mm3; <1.0 x 10e9 /L"),
    ("Anemia", 1, "Hemoglobin (Hgb) <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L"),
    ("Anemia", 2, "Hgb <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80 g/L"),
    ("Anemia", 3, "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L; transfusion indicated"),
    ("Anemia", 4, "Life-threatening consequences; urgent intervention indicated"),
    ("Blood bilirubin increased", 1, ">ULN - 1.5 x ULN if baseline was normal"),
    ("Blood bilirubin increased", 2, ">1.5 - 3.0 x ULN if baseline was normal"),
    ("Blood bilirubin increased", 3, ">3.0 - 10.0 x ULN if baseline was normal"),
    ("Blood bilirubin increased", 4, ">10.0 x ULN if baseline was normal"),
    ("Aspartate aminotransferase increased", 1, ">ULN - 3.0 x ULN if baseline was normal"),
    ("Aspartate aminotransferase increased", 2, ">3.0 - 5.0 x ULN if baseline was normal"),
    ("Aspartate aminotransferase increased", 3, ">5.0 - 20.0 x ULN if baseline was normal"),
    ("Aspartate aminotransferase increased", 4, ">20.0 x ULN if baseline was normal"),
    ("Alanine aminotransferase increased", 1, ">ULN - 3.0 x ULN if baseline was normal"),
    ("Alanine aminotransferase increased", 2, ">3.0 - 5.0 x ULN if baseline was normal"),
    ("Alanine aminotransferase increased", 3, ">5.0 - 20.0 x ULN if baseline was normal"),
    ("Alanine aminotransferase increased", 4, ">20.0 x ULN if baseline was normal"),
    ("Creatinine increased", 1, ">ULN - 1.5 x ULN"),
    ("Creatinine increased", 2, ">1.5 - 3.0 x baseline; >1.5 - 3.0 x ULN"),
    ("Creatinine increased", 3, ">3.0 x baseline; >3.0 - 6.0 x ULN"),
    ("Creatinine increased", 4, ">6.0 x ULN"),
    (
        "Febrile neutropenia",
        3,
        "ANC <1000/mm3 with a single temperature of >38.3 degrees C (101 degrees F) or a sustained temperature "
        "of >=38 degrees C (100.4 degrees F) for more than one hour",
    ),
    ("Febrile neutropenia", 4, "Life-threatening consequences; urgent intervention indicated"),
    (
        "Diarrhea",
        1,
        "Increase of <4 stools per day over baseline; mild increase in ostomy output compared to baseline",
    ),
    (
        "Diarrhea",
        2,
        "Increase of 4 - 6 stools per day over baseline; moderate increase in ostomy output compared to "
        "baseline; limiting instrumental ADL",
    ),
    (
        "Diarrhea",
        3,
        "Increase of >=7 stools per day over baseline; hospitalization indicated; severe increase in ostomy "
        "output compared to baseline; limiting self care ADL",
    ),
    ("Diarrhea", 4, "Life-threatening consequences; urgent intervention indicated"),
    ("Nausea", 1, "Loss of appetite without alteration in eating habits"),
    ("Nausea", 2, "Oral intake decreased without significant weight loss, dehydration or malnutrition"),
    ("Nausea", 3, "Inadequate oral caloric or fluid intake; tube feeding, TPN, or hospitalization indicated"),
    ("Vomiting", 1, "Intervention not indicated"),
    ("Vomiting", 2, "Outpatient IV hydration; medical intervention indicated"),
    ("Vomiting", 3, "Tube feeding, TPN, or hospitalization indicated"),
    ("Vomiting", 4, "Life-threatening consequences"),
)

#: Clinical terms graded from yes/no facts: term, fact (keyword of ``grade_term``), grade the fact gives.
#: The grade is the highest grade among the facts that are true.
CLINICAL_FLAGS: tuple[tuple[str, str, int], ...] = (
    ("Diarrhea", "ostomy_output_mild", 1),
    ("Diarrhea", "ostomy_output_moderate", 2),
    ("Diarrhea", "limiting_instrumental_adl", 2),
    ("Diarrhea", "ostomy_output_severe", 3),
    ("Diarrhea", "hospitalization", 3),
    ("Diarrhea", "limiting_self_care_adl", 3),
    ("Diarrhea", "life_threatening", 4),
    ("Nausea", "loss_of_appetite", 1),
    ("Nausea", "decreased_intake", 2),
    ("Nausea", "inadequate_intake", 3),
    ("Nausea", "tube_feeding_tpn_or_hospitalization", 3),
    ("Vomiting", "vomiting", 1),
    ("Vomiting", "outpatient_iv_hydration", 2),
    ("Vomiting", "medical_intervention", 2),
    ("Vomiting", "tube_feeding_tpn_or_hospitalization", 3),
    ("Vomiting", "life_threatening", 4),
    ("Febrile neutropenia", "life_threatening", 4),
)

#: Clinical terms graded from a count: term, fact, grade, smallest count giving that grade.
CLINICAL_COUNTS: tuple[tuple[str, str, int, float], ...] = (
    ("Diarrhea", "stools_over_baseline", 1, 1),
    ("Diarrhea", "stools_over_baseline", 2, 4),
    ("Diarrhea", "stools_over_baseline", 3, 7),
)

#: Febrile neutropenia grade 3 definition: ANC strictly below (10^9/L); a single temperature strictly above
#: (degC); or a temperature at or above (degC) sustained for strictly more than (hours).
FEBRILE_NEUTROPENIA: tuple[float, float, float, float] = (1.0, 38.3, 38.0, 1.0)

#: Terms counted as haematological toxicity by the dose-modification rules ("non-haematological" is every
#: other term): the haematology investigations and the blood and lymphatic system disorders among them.
HAEMATOLOGICAL_TERMS: tuple[str, ...] = (
    "Neutrophil count decreased",
    "Platelet count decreased",
    "White blood cell decreased",
    "Anemia",
    "Febrile neutropenia",
    "Lymphocyte count decreased",
)
