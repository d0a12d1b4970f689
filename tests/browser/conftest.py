"""Browser tests: Playwright (sync API) driving Debian's chromium against a real server.

The data are what a new user gets (issue 7 "Done when"): ``trialtwin demo-data`` seeds a temporary SQLite
database. ``served`` is ``trialtwin serve`` itself in a subprocess; ``server`` is the same app under uvicorn in a
thread with a movable clock, so that weeks can pass between two scans (RECIST needs a follow-up after the
randomization date). Ports: 8150-8199. Chromium must be installed at /usr/bin/chromium (``make test`` installs
it); when it is missing these tests fail, they never skip.

``TRIALTWIN_SCREENSHOTS=DIR`` saves a screenshot of each step to DIR (to look at the pages).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))

from _browser import CHROMIUM, Server, Shots, ThreadServer, seed_demo, start_server, start_thread_server, stop_server


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database seeded by ``trialtwin demo-data`` (copied by each server below)."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    seed_demo(f"sqlite:///{path}")
    return path


def _copy(template: Path, folder: Path) -> str:
    target = folder / "demo.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def served(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``trialtwin serve`` on the demo data, as a new user runs it."""
    root = tmp_path_factory.mktemp("served")
    running = start_server(_copy(demo_db, root), root / "server.log")
    try:
        yield running
    finally:
        stop_server(running.process)


@pytest.fixture(scope="session")
def server(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    """The same app in a thread with a movable clock (each test registers its own subjects)."""
    running = start_thread_server(_copy(demo_db, tmp_path_factory.mktemp("threaded")))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does) to run the browser tests")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield browser
    browser.close()


def _page(chromium: Browser, url: str) -> Iterator[Page]:
    context = chromium.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page(chromium: Browser, server: ThreadServer) -> Iterator[Page]:
    server.clock.offset = dt.timedelta(0)
    yield from _page(chromium, server.url)


@pytest.fixture
def served_page(chromium: Browser, served: Server) -> Iterator[Page]:
    yield from _page(chromium, served.url)


@pytest.fixture
def shots(page: Page) -> Shots:
    return Shots(page)
