"""Helpers of the browser tests (fixtures in conftest.py): the server started as a new user would, and screenshots."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from playwright.sync_api import Page

from trialtwin.services import Database
from trialtwin.web.app import create_app
from trialtwin.web.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
PORTS = range(8150, 8200)
PASSWORD = "browser-test-password-1"
STUDY = "ever-132-002"


@dataclass(frozen=True)
class Server:
    """``trialtwin serve`` in a subprocess."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]


class MovableClock:
    """The server's clock: the system's UTC time plus an offset the test moves (weeks pass between scans)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def today(self) -> dt.date:
        return self().date()


@dataclass
class ThreadServer:
    """The app of ``trialtwin serve`` under uvicorn in a thread of the test, with a movable clock."""

    url: str
    clock: MovableClock
    server: uvicorn.Server
    thread: threading.Thread
    db: Database

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.db.dispose()


def start_thread_server(db_url: str) -> ThreadServer:
    """Serve ``create_app`` (what ``trialtwin serve`` runs) on a free port of 8150-8199 with a movable clock."""
    clock = MovableClock()
    db = Database(db_url)
    app = create_app(Settings(db_url=db_url), db=db, clock=clock)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="trialtwin-browser-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return ThreadServer(f"http://127.0.0.1:{port}", clock, server, thread, db)


def free_port() -> int:
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def trialtwin_command() -> list[str]:
    script = Path(sys.executable).parent / "trialtwin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "trialtwin.cli.main"]


def seed_demo(db_url: str) -> None:
    """``trialtwin demo-data`` with one known password for every account."""
    seeded = subprocess.run(
        [*trialtwin_command(), "demo-data", "--db", db_url, "--password", PASSWORD, "--seed", "7"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr


def start_server(db_url: str, log: Path) -> Server:
    """``trialtwin serve`` on a free port of 8150-8199, once its health check answers."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*trialtwin_command(), "serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=2) as r:
                if r.status == 200:
                    return Server(url, log, proc)
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"trialtwin serve did not start:\n{log.read_text()}")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server this test started (by its own process handle)."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Shots:
    """Screenshots of the steps into ``TRIALTWIN_SCREENSHOTS`` (nothing when it is unset)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        folder = os.environ.get("TRIALTWIN_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        self.n = 0

    def __call__(self, name: str, *, full_page: bool = True) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n += 1
        self.page.screenshot(path=str(self.folder / f"{self.n:02d}-{name}.png"), full_page=full_page)
