"""Scenario: every parameter named with unit, default and source; bad scenarios named by field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from trialtwin.protocol import Protocol
from trialtwin.sim.scenario import Scenario, ScenarioError, describe_parameters


def test_every_parameter_has_a_unit_and_a_note() -> None:
    params = list(describe_parameters(Scenario()))
    assert len(params) > 40
    for name, _value, unit, note in params:
        assert unit, f"{name} has no unit"
        assert note, f"{name} has no note on its source"


def test_default_fits_ever(ever: Protocol) -> None:
    Scenario().check_against(ever)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"accrual": {"duration_month": 24}}, "duration_month"),  # unknown parameter
        ({"outcomes": {"sg": {"withdrawal_rate": -0.1}, "tpc": {}}}, "withdrawal_rate"),  # negative rate
        (
            {
                "treatment": {
                    "tpc_split": {"eribulin": 0.5, "capecitabine": 0.2, "gemcitabine": 0.2, "vinorelbine": 0.2}
                }
            },
            "tpc_split: probabilities sum to 1.1000",
        ),
        ({"population": {"age_sd": 0}}, "age_sd"),  # a spread that cannot be sampled
        (
            {"outcomes": {"sg": {"progression_hazards": [0.1, 0.2], "progression_cuts": [1.0, 2.0]}, "tpc": {}}},
            "needs one more value",
        ),
        ({"cut": {"target_events": None, "date": None}}, "give target_events or date"),
    ],
)
def test_bad_scenarios_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Scenario.model_validate(data)


def test_study_mismatch(ever: Protocol, tropics: Protocol) -> None:
    with pytest.raises(ScenarioError, match="scenario is for 'ever-132-002', not 'tropics-02'"):
        Scenario().check_against(tropics)
    odd = Scenario.model_validate({"treatment": {"tpc_split": {"eribulin": 0.5, "paclitaxel": 0.5}}})
    with pytest.raises(ScenarioError, match=r"tpc_split: drugs \['eribulin', 'paclitaxel'\] do not match"):
        odd.check_against(ever)


def test_tropics_runs_from_its_own_files(tropics: Protocol) -> None:
    """Issue 4 point 6: the sibling study runs from its own protocol and scenario files (virtual sites)."""
    import numpy as np
    import yaml

    from trialtwin.analysis.frames import validate_frames
    from trialtwin.sim.population import trial_sites
    from trialtwin.sim.trial import simulate_trial

    path = Path(__file__).parents[3] / "src" / "trialtwin" / "sim" / "scenarios" / "tropics-02.yaml"
    scenario = Scenario.model_validate(yaml.safe_load(path.read_text()))
    scenario.check_against(tropics)
    sites = trial_sites(tropics, scenario)
    assert len(sites) == 91 and {s.country for s in sites} == set(tropics.countries)
    record = simulate_trial(tropics, scenario, rng=np.random.default_rng(3))
    frames = validate_frames(record.frames)
    assert record.meta["randomized"] == 543
    assert set(frames["subjects"]["stratum"].str.split("|").str[0]) == {"visceral=yes", "visceral=no"}


def test_protocol_without_sites_needs_virtual_sites(tropics: Protocol) -> None:
    scenario = Scenario.model_validate({"study": "tropics-02"})
    with pytest.raises(ScenarioError, match=r"accrual\.virtual_sites: the protocol lists no sites"):
        scenario.check_against(tropics)
