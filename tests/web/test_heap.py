"""The serving process freezes its start-up heap out of the cyclic GC (trialtwin.services.heap; the p99 figures
in docs/service/performance.md): the app does it at start-up when ``Settings.freeze_heap`` is on, which
``trialtwin serve`` turns on, and never otherwise (tests build many apps)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from trialtwin.services.heap import freeze_startup_heap
from trialtwin.web.app import create_app
from trialtwin.web.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the frozen objects go back to the oldest generation: nothing stays out of the GC


def test_freeze_moves_the_live_heap_out_of_the_collector(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    before = len(gc.get_objects())
    frozen = freeze_startup_heap()
    assert frozen == gc.get_freeze_count()
    assert frozen >= before // 2  # the heap alive now (modules, the app's objects) is frozen...
    assert len(gc.get_objects()) < before - frozen // 2  # ...and no longer walked by a collection


@pytest.mark.parametrize("freeze", [True, False])
def test_app_freezes_at_start_up_only_when_asked(unfrozen: None, tmp_path: Path, freeze: bool) -> None:
    url = f"sqlite:///{tmp_path / 'heap.db'}"
    app = create_app(Settings(db_url=url, freeze_heap=freeze), include_pages=False)
    with TestClient(app) as client:  # runs the lifespan (start-up)
        assert client.get("/api/v1/health").status_code == 200
        if freeze:
            assert app.state.frozen_objects > 10_000 and gc.get_freeze_count() > 10_000
        else:
            assert not hasattr(app.state, "frozen_objects") and gc.get_freeze_count() == 0
    app.state.db.dispose()


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), (None, False)])
def test_settings_read_the_switch_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("TRIALTWIN_FREEZE_HEAP", raising=False)
    else:
        monkeypatch.setenv("TRIALTWIN_FREEZE_HEAP", value)
    assert Settings.from_env().freeze_heap is expected


@pytest.mark.parametrize(("preset", "expected"), [(None, "1"), ("0", "0")])
def test_serve_turns_it_on_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, preset: str | None, expected: str
) -> None:
    import uvicorn

    from trialtwin.cli.main import app as cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(env=os.environ.get("TRIALTWIN_FREEZE_HEAP")))
    for name in ("TRIALTWIN_FREEZE_HEAP", "TRIALTWIN_DB_URL", "TRIALTWIN_SECURE"):
        monkeypatch.delenv(name, raising=False)
    if preset is not None:
        monkeypatch.setenv("TRIALTWIN_FREEZE_HEAP", preset)
    result = CliRunner().invoke(cli, ["serve", "--db", f"sqlite:///{tmp_path / 'serve.db'}"])
    assert result.exit_code == 0, result.output
    assert seen["env"] == expected
    monkeypatch.delenv("TRIALTWIN_DB_URL", raising=False)  # serve exported it for the workers
