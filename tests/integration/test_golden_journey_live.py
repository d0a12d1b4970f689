"""Golden journey through a live server: ``trialtwin simulate --via URL`` pushes the twin's patients through the
JSON API of a real ``trialtwin serve --virtual-clock`` process, and the service's export gives the twin's
derived frames (issue 7, item 6).

Set-up as a user does it (docs/service/clinical.md, "Twin through the live service"): ``trialtwin journey --db
URL --setup-only --seed 1`` (study with IRT seed 1, replay user), the server as a subprocess on a free port,
``trialtwin simulate --via`` for the first N randomized patients of the EVER-132-002 twin (its built-in scenario,
seed 1), then ``trialtwin export --cutoff`` (the twin's cut-off). The exported folder is compared with

* the twin's frames for the same patients: allocations identical; ``derive_all`` identical for every subject,
  with no refusal and no dose decided otherwise in the replay report (see test_golden_journey.py);
* the same twin replayed in-process through the use cases (``InProcessClient``): the live API records exactly
  what the use cases record.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from _journey import STUDY, differing_subjects, sorted_frame
from typer.testing import CliRunner

from trialtwin.analysis.frames import validate_frames
from trialtwin.cli.frames_io import load_frames
from trialtwin.cli.journey import InProcessClient, replay, setup_service, simulate_for_replay, twin_subset
from trialtwin.cli.main import app
from trialtwin.cli.simulate import load_scenario
from trialtwin.protocol import load_protocol
from trialtwin.services import export_frames
from trialtwin.store import Database
from trialtwin.store.migrations import upgrade

N = 8
SEED = 1
PASSWORD = "live replay password 0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _start(db_url: str, log: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    port = _free_port()
    command = [sys.executable, "-m", "trialtwin.cli.main", "serve", "--db", db_url, "--port", str(port), *args]
    handle = log.open("wb")
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()}")
        try:
            httpx.get(f"{url}/api/v1/health", timeout=1.0)
            return Server(url, process, log)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the server did not start: {log.read_text()}")


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@dataclass
class Live:
    twin: dict[str, pd.DataFrame]
    service: dict[str, pd.DataFrame]
    in_process: dict[str, pd.DataFrame]
    cutoff: Any
    report: dict[str, Any]
    stdout: str
    server: Server
    db_url: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    db_url = f"sqlite:///{tmp / 'live.db'}"
    runner = CliRunner()
    setup = runner.invoke(app, ["journey", "--db", db_url, "--setup-only", "--seed", str(SEED), "--password", PASSWORD])
    assert setup.exit_code == 0, setup.output
    assert "replay-investigator" in setup.stdout and PASSWORD in setup.stdout
    protocol = load_protocol(STUDY)
    scenario = load_scenario(None, STUDY)
    record, subjects = simulate_for_replay(protocol, scenario, seed=SEED, n=N)
    server = _start(db_url, tmp / "serve.log", "--virtual-clock")
    try:
        result = runner.invoke(
            app,
            ["simulate", "--via", server.url, "--n", str(N), "--seed", str(SEED), "--report", str(tmp / "r.json")],
            env={"TRIALTWIN_PASSWORD": PASSWORD},
        )
        assert result.exit_code == 0, result.output
        out = tmp / "export"
        exported = runner.invoke(app, ["export", "--db", db_url, "--out", str(out), "--cutoff", str(record.cutoff)])
        assert exported.exit_code == 0, exported.output
        report = json.loads((tmp / "r.json").read_text())
        direct = Database(f"sqlite:///{tmp / 'direct.db'}")
        upgrade(direct)
        actor = setup_service(direct, protocol, seed=SEED, start=scenario.accrual.start)
        replay(InProcessClient(direct, protocol.id, actor), record.frames, subjects)
        in_process = validate_frames(export_frames(direct, protocol.id, cutoff=record.cutoff))
        direct.dispose()
        yield Live(
            twin_subset(record.frames, list(subjects)),
            validate_frames(load_frames(out)),
            in_process,
            record.cutoff,
            report,
            result.stdout,
            server,
            db_url,
        )
    finally:
        _stop(server)


def test_the_replay_went_through_the_live_api(live: Live) -> None:
    assert len(live.report["subjects"]) == N and live.report["steps"] > 50 * N
    assert f"replayed {N} patients" in live.stdout
    # the only backward steps of the clock are randomizations that wait for an earlier-numbered patient
    assert all(
        step.startswith(("randomize", "baseline", "scan", "dose", "labs", "ae"))
        for _, step, _ in live.report["clock_back"]
    )
    assert max((days for *_, days in live.report["clock_back"]), default=0) <= 7


def test_allocations_are_the_twins(live: Live) -> None:
    twin = validate_frames(live.twin)["subjects"]
    service = validate_frames(live.service)["subjects"]
    assert len(twin) == N
    columns = [c for c in twin.columns if c != "last_dose_date"]
    pd.testing.assert_frame_equal(
        sorted_frame(twin[columns], ["subject_id"]), sorted_frame(service[columns], ["subject_id"])
    )


def test_the_live_api_records_what_the_use_cases_record(live: Live) -> None:
    differ = {name for name, frame in live.service.items() if not frame.equals(live.in_process[name])}
    assert differ == set(), differ


def test_derived_frames_are_the_twins(live: Live) -> None:
    """Over HTTP too: every subject identical in ADSL, ADTTE, ADRS and ADAE, no refusal, no dose decided
    otherwise (seed 1, 8 patients; measured 2026-11-25)."""
    assert [tuple(r) for r in live.report["refused"]] == []
    assert live.report["dose_mismatches"] == []
    assert differing_subjects(dict(live.twin), live.service, live.cutoff) == {}


def test_a_second_replay_into_the_used_database_is_refused(live: Live) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--via", live.server.url, "--n", "2", "--seed", str(SEED), "--password", PASSWORD]
    )
    assert result.exit_code == 2 and "past the twin's first step" in result.stderr, result.output


def test_wrong_credentials_and_an_unreachable_server_are_one_line_errors(live: Live) -> None:
    runner = CliRunner()
    wrong = runner.invoke(app, ["simulate", "--via", live.server.url, "--n", "2", "--password", "not the password"])
    assert wrong.exit_code == 2 and "login as replay-investigator" in wrong.stderr, wrong.output
    missing = runner.invoke(app, ["simulate", "--via", live.server.url, "--n", "2"], env={"TRIALTWIN_PASSWORD": ""})
    assert missing.exit_code == 2 and "--password" in missing.stderr
    closed = f"http://127.0.0.1:{_free_port()}"
    down = runner.invoke(app, ["simulate", "--via", closed, "--n", "2", "--password", PASSWORD])
    assert down.exit_code == 2 and "cannot reach the server" in down.stderr, down.output
    assert "Traceback" not in wrong.output + down.output


def test_the_pages_are_marked(live: Live) -> None:
    page = httpx.get(f"{live.server.url}/login")
    assert page.headers.get("x-trialtwin-virtual-clock") == "on"
    assert "not a real trial" in page.text


def test_without_the_flag_there_is_no_virtual_clock(live: Live, tmp_path: Path) -> None:
    """Never implied: an inherited TRIALTWIN_VIRTUAL_CLOCK=1 does not turn it on; the route is 404 and the
    replay says what to do."""
    env = {**os.environ, "TRIALTWIN_VIRTUAL_CLOCK": "1"}
    server = _start(live.db_url, tmp_path / "plain.log", env=env)
    try:
        answer = httpx.get(f"{server.url}/api/v1/virtual-clock")
        assert answer.status_code == 404 and "x-trialtwin-virtual-clock" not in answer.headers
        put = httpx.put(f"{server.url}/api/v1/virtual-clock", json={"now": "2030-01-01T00:00:00Z"})
        assert put.status_code == 404
        result = CliRunner().invoke(app, ["simulate", "--via", server.url, "--n", "2", "--password", PASSWORD])
        assert result.exit_code == 2 and "serve --virtual-clock" in result.stderr, result.output
    finally:
        _stop(server)
