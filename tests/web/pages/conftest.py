"""Fixtures of the page tests (``web`` and the seeded database come from ``tests/web/conftest.py``; helpers in
``_pages.py``, importable because this folder is put on ``sys.path`` here)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _pages import Browser
from _web import Web


@pytest.fixture
def browser(web: Web) -> Callable[[str], Browser]:
    """``browser("inv1")``: a client logged in as ``inv1`` through the login form."""
    return lambda username: Browser(web, username)
