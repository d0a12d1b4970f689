"""``trialtwin demo-data``: seeds an empty database and prints working credentials; refuses a seeded one."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from trialtwin.cli.main import app
from trialtwin.web.app import create_app
from trialtwin.web.settings import Settings


def test_demo_data_prints_credentials_that_log_in_and_refuses_to_seed_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["demo-data", "--db", url, "--password", "a demo password", "--seed", "7"])
    assert result.exit_code == 0, result.output
    for username in ("admin", "inv1", "coord1", "inv2", "coord2", "monitor", "statistician"):
        assert username in result.output
    client = TestClient(create_app(Settings(db_url=url), include_pages=False))
    r = client.post("/api/v1/session", json={"username": "inv2", "password": "a demo password"})
    assert r.status_code == 200
    me = client.get("/api/v1/me").json()
    assert me["roles"] == [["investigator", "CN-002"]]
    again = runner.invoke(app, ["demo-data", "--db", url])
    assert again.exit_code == 2 and "has accounts already" in again.output
    short = runner.invoke(app, ["demo-data", "--db", f"sqlite:///{tmp_path / 'x.db'}", "--password", "short"])
    assert short.exit_code == 2 and "12 characters" in short.output
