"""Clinical use cases on SQLite: the shared cases of ``_clinical_cases``."""

from __future__ import annotations

import _clinical_cases
import pytest
from _trial import Trial

globals().update({k: v for k, v in vars(_clinical_cases).items() if k.startswith("test_")})


@pytest.fixture
def trial(sqlite_trial: Trial) -> Trial:
    return sqlite_trial
