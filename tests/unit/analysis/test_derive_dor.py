"""Duration of response in ADTTE (PARAMCD DOR): BICR responders' PFS restarted at the first response."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialtwin.analysis.derive import derive_all
from trialtwin.protocol import Protocol
from trialtwin.sim.scenario import Scenario
from trialtwin.sim.trial import simulate_trial


def test_dor_is_pfs_from_the_first_response_for_responders_only(ever: Protocol) -> None:
    """FDA 2018 guidance: DOR runs from the first documented CR/PR to progression or death, censored as PFS."""
    record = simulate_trial(ever, Scenario(), rng=np.random.default_rng(8))
    adtte = derive_all(record.frames, ever, cutoff=record.cutoff)["ADTTE"]
    best = record.frames["best_response"]
    responders = best[(best["assessor"] == "BICR") & best["response"].isin(("CR", "PR"))].set_index("subject_id")
    dor = adtte[adtte["PARAMCD"] == "DOR"].set_index("SUBJID")
    pfs = adtte[adtte["PARAMCD"] == "PFS"].set_index("SUBJID")
    assert len(dor) > 20
    assert set(dor.index) == set(responders.index)
    assert (dor["STARTDT"] == responders.loc[dor.index, "response_date"]).all()
    assert (dor["ADT"] == pfs.loc[dor.index, "ADT"]).all()
    assert (dor["CNSR"] == pfs.loc[dor.index, "CNSR"]).all()
    expected = (dor["ADT"] - dor["STARTDT"]).dt.days + 1
    pd.testing.assert_series_equal(dor["AVALD"], expected.astype(float), check_names=False)
    assert (dor["AVALD"] > 0).all()
