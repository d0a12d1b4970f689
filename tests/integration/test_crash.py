"""Crash durability, small version of G6 (trial-system-requirements; ICH E6(R3) 4.3.3(d), 4.3.6): a server
doing concurrent randomizations is killed with SIGKILL mid-writes, 3 times (each round restarts the server,
which takes seconds; ``benchmarks/crash.py --rounds 50`` is the full figure); nothing it acknowledged may be
lost, the audit chain must verify and SQLite's ``PRAGMA integrity_check`` must say ok. A negative control
that acknowledges *before* committing must report losses, so this test can fail.

The harness is benchmarks/crash.py; it runs here as a subprocess and reports JSON. The server is
``trialtwin serve`` on a temporary SQLite file, driven over HTTP; if the web layer cannot be imported, the
services writer subprocess (ack after ``services.randomize`` returns) is used.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CRASH = Path(__file__).resolve().parents[2] / "benchmarks" / "crash.py"


def crash(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(CRASH), "--json", "--seed", "7", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    summary: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return summary


def test_kill_9_mid_writes_loses_no_acknowledged_write() -> None:
    """G6 (3 rounds): 0 acknowledged writes lost, 0 duplicates or gaps, chain verifies, integrity_check ok 3/3."""
    writer = "http" if importlib.util.find_spec("trialtwin.web.app") is not None else "services"
    summary = crash("--writer", writer, "--rounds", "3", "--per-round", "200", "--kill-min", "0.2", "--kill-max", "0.8")
    assert summary["rounds"] == 3
    assert summary["acknowledged"] > 0, "no write was acknowledged before the kill: the test proved nothing"
    assert summary["lost"] == 0, summary["per_round"]
    assert summary["duplicates"] == 0 and summary["gaps"] == 0
    assert summary["chain_failures"] == 0
    assert summary["integrity_ok"] == 3


def test_negative_control_acknowledging_before_commit_reports_losses() -> None:
    """The harness can fail: a writer that acknowledges before its commit loses acknowledged writes when
    killed (3 rounds; the commit waits 100 ms after the ack, so a kill lands in that window)."""
    summary = crash(
        "--writer", "ack-before-commit", "--rounds", "3", "--per-round", "100", "--kill-min", "0.2", "--kill-max", "0.6"
    )
    assert summary["acknowledged"] > 0
    assert summary["lost"] > 0
    # What was committed is still consistent: the losses are acknowledgements without a commit.
    assert summary["chain_failures"] == 0 and summary["integrity_ok"] == 3
