"""Clinical use cases on PostgreSQL: the shared cases of ``_clinical_cases`` (skipped, with the reason, when
no server is reachable; see conftest.py)."""

from __future__ import annotations

import _clinical_cases
import pytest
from _trial import Trial

globals().update({k: v for k, v in vars(_clinical_cases).items() if k.startswith("test_")})


@pytest.fixture
def trial(pg_trial: Trial) -> Trial:
    return pg_trial
