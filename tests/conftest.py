"""Shared fixtures: the built-in protocols and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialtwin.protocol import Protocol, load_protocol

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def ever() -> Protocol:
    """EVER-132-002, the built-in study."""
    return load_protocol("ever-132-002")


@pytest.fixture(scope="session")
def tropics() -> Protocol:
    """TROPiCS-02, the sibling study (proves nothing is hard-coded to EVER-132-002)."""
    return load_protocol("tropics-02")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
