"""Fixtures of the web tests (helpers in ``_web.py``, importable by name through pytest's ``pythonpath``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _web import Seeded, Web, make_web, seed_database


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_database(tmp_path_factory.mktemp("web-template") / "web.db")


@pytest.fixture
def web(seeded: Seeded, tmp_path: Path) -> Iterator[Web]:
    w = make_web(seeded, tmp_path)
    yield w
    w.db.dispose()


@pytest.fixture
def secure_web(seeded: Seeded, tmp_path: Path) -> Iterator[Web]:
    w = make_web(seeded, tmp_path, secure=True)
    yield w
    w.db.dispose()
