"""Service benchmark (issue 7 item 8): randomizations and CRF saves per second with 32 concurrent clients, on
SQLite and PostgreSQL, in-process and over HTTP. Prints a table; asserts nothing.

Workloads (each client does PER_CLIENT requests back to back, all clients released together):

* ``randomize``     ``trialtwin.services.randomize`` from CLIENTS threads: group commit (the service's path);
* ``randomize-1tx`` the same use case in one transaction per request (``UnitOfWork`` + ``randomize_in``), i.e.
  without group commit, for comparison;
* ``randomize-idem`` ``services.idempotency.randomize_idempotent`` (the API's ``Idempotency-Key`` path: group
  commit, the key row in the allocation's unit of work), one new key per request;
* ``crf``           a CRF save: the first eligibility facts of a consented subject
  (``services.enter_eligibility``, through the group-commit writer, as the service does it);
* ``crf-1tx``       the same save in one transaction per request (``UnitOfWork`` + ``enter_eligibility_in``);
* ``http``          POST /api/v1/studies/{study}/subjects/{id}/randomization against a real ``trialtwin serve``
  (uvicorn, ``--workers`` processes, default one) on a port in 8200-8249, from CLIENTS threads with one
  ``httpx.Client`` each and an API token (skipped, and said so, when the web layer is missing). Its "cpu ms"
  is the server's (every worker process); the clients' follows on the next line.

Each line gives requests/s, p50/p95/p99 latency, errors, and the benchmark process's CPU time per request (the
clients' and, in-process, the server's work; on a shared machine the wall-clock rate depends on other load,
this much less); grouped workloads also give the SQL statements sent per request (round trips; an
``executemany`` counts once). After the randomize workloads the integrity figures follow (duplicates, gaps, audited
allocations, chain). The first line is the fsync time of this disk (4 KiB appends), the floor of one commit.

Subjects are registered, consented and (for randomize) screened beforehand, in transactions of 500 through
the ``*_in`` use cases (not timed). PostgreSQL: ``--pg-url`` (default ``$TRIALTWIN_TEST_PG_URL`` or
``postgresql://postgres@127.0.0.1:5432/postgres``) must allow CREATE DATABASE; a scratch database is created
and dropped; the run is skipped (and says so) when the server is unreachable.

    .venv/bin/python benchmarks/service.py                      # 32 × 500, every workload, both databases
    .venv/bin/python benchmarks/service.py --per-client 100 --backend sqlite --workloads randomize,crf
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, event, func, select, text

from trialtwin.protocol import load_protocol
from trialtwin.services import (
    UnitOfWork,
    bootstrap_admin,
    create_user,
    enter_eligibility,
    enter_eligibility_in,
    grant_role,
    load_study,
    randomize,
    record_consent_in,
    register_screening_in,
)
from trialtwin.services.heap import freeze_startup_heap
from trialtwin.services.idempotency import randomize_idempotent
from trialtwin.services.randomize import randomize_in
from trialtwin.services.uow import group_committer
from trialtwin.store import Database
from trialtwin.store.audit import verify_chain
from trialtwin.store.ledger import ledger
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import AuditLog

STUDY = "ever-132-002"
PASSWORD = "benchmark password"
ROOT = Path(__file__).resolve().parents[1]
#: An eligible patient: the documented example (docs/examples/screening-eligible.json), liver enzymes <= 2.5×ULN.
FACTS = {**json.loads((ROOT / "docs" / "examples" / "screening-eligible.json").read_text()), "ast": 1.1, "alt": 1.0}
WORKLOADS = ("randomize", "randomize-1tx", "randomize-idem", "crf", "crf-1tx", "http")
PORTS = range(8200, 8250)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def facts_for(k: int) -> dict[str, object]:
    stratum = (k * 7 + k // 8) % 8
    return FACTS | {
        "prior_chemo_lines_mbc": 2 + (stratum // 4) % 2,
        "visceral_metastasis": (stratum // 2) % 2 == 0,
        "prior_cdk46_inhibitor": stratum % 2 == 0,
    }


def fsync_ms(directory: str, n: int = 200) -> tuple[float, float]:
    """Median and p99 of fsync after a 4 KiB append in ``directory`` (what a commit waits for at least)."""
    path = Path(directory) / f"fsync-probe-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times), float(np.percentile(times, 99))


def setup_trial(db: Database) -> int:
    protocol = load_protocol(STUDY)
    admin = bootstrap_admin(db, "admin", "Bench Admin", PASSWORD, clock=utc_now).id
    load_study(db, protocol, seed=2020, actor=admin, clock=utc_now)
    user = create_user(db, "ivan", "Ivan Investigator", PASSWORD, actor=admin, clock=utc_now).id
    grant_role(db, "ivan", "investigator", actor=admin, clock=utc_now)
    return user


def prepare(db: Database, user: int, n: int, *, screened: bool, start: int = 0) -> list[str]:
    """``n`` consented subjects over 10 sites, screened eligible (8 strata) when ``screened``."""
    sites = [s.id for s in load_protocol(STUDY).sites[:10]]
    ids: list[str] = []
    while len(ids) < n:
        with UnitOfWork(db, actor=user, clock=utc_now) as uow:
            for _ in range(min(500, n - len(ids))):
                k = start + len(ids)
                sid = register_screening_in(uow, STUDY, sites[k % len(sites)]).screening_id
                record_consent_in(uow, STUDY, sid, dt.date(2025, 3, 1), form_version="v1")
                if screened:
                    enter_eligibility_in(uow, STUDY, sid, facts_for(k))
                ids.append(sid)
    return ids


class Run:
    """One workload's figures."""

    def __init__(self, elapsed: float, latencies: list[float], errors: list[str], cpu: float) -> None:
        self.elapsed, self.latencies, self.errors, self.cpu = elapsed, latencies, errors, cpu
        self.client_cpu: float | None = None  # over HTTP: the clients' CPU (``cpu`` is then the server's)

    def row(self, db_label: str, workload: str, clients: int) -> str:
        n = len(self.latencies)
        p50, p95, p99 = np.percentile(np.array(self.latencies) * 1000, [50, 95, 99])
        cpu = f"{self.cpu / n * 1000:7.2f}" if self.cpu == self.cpu else "      -"
        return (
            f"{db_label:<11} {workload:<14} {clients:>3} {n:>6} {n / self.elapsed:8.1f} {p50:7.1f} {p95:7.1f} "
            f"{p99:7.1f} {len(self.errors):>6} {cpu}"
        )


HEADER = (
    f"{'database':<11} {'workload':<14} {'cl':>3} {'n':>6} {'per s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
    f"{'errors':>6} {'cpu ms':>7}"
)


def race(
    work: list[list[str]], call: Callable[[int, str], Any], *, measure_cpu: bool = True, freeze_heap: bool = False
) -> Run:
    """One thread per list of work, all released together; ``call(client, item)`` per item. ``freeze_heap``:
    first freeze the heap out of the cyclic GC, as ``trialtwin serve`` does once it has started
    (trialtwin.services.heap)."""
    clients = len(work)
    if freeze_heap:
        freeze_startup_heap()
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def client(c: int) -> None:
        barrier.wait()
        for item in work[c]:
            t0 = time.perf_counter()
            try:
                call(c, item)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies[c].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    cpu0, start = time.process_time(), time.perf_counter()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return Run(elapsed, [x for lat in latencies for x in lat], errors, cpu if measure_cpu else float("nan"))


def integrity(db: Database, ids: list[str]) -> str:
    """E3/E4/E6 figures over the whole ledger (every randomize workload of this database so far)."""
    with db.read_session() as session:
        entries = ledger(session, STUDY)
        duplicates = len(entries) - len({e.subject_id for e in entries})
        gaps = 0 if [e.sequence for e in entries] == list(range(1, len(entries) + 1)) else 1
        strata: dict[str, list[int]] = defaultdict(list)
        for e in entries:
            strata[e.stratum].append(e.stratum_sequence)
        stratum_gaps = sum(sorted(v) != list(range(1, len(v) + 1)) for v in strata.values())
        audited = Counter(
            session.execute(
                select(AuditLog.record_id).where(
                    AuditLog.table_name == "randomization_ledger", AuditLog.action == "create"
                )
            ).scalars()
        )
        once = sum(audited[str(e.id)] == 1 for e in entries)
        report = verify_chain(session)
        total = session.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    return (
        f"ledger {len(entries)}, duplicates {duplicates}, sequence gaps {gaps}, strata with gaps {stratum_gaps}, "
        f"allocations audited once {once}/{len(entries)}, chain {'verifies' if report.ok else 'BROKEN'} "
        f"({total} entries)"
    )


# ---- HTTP ------------------------------------------------------------------------------------------------------


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@contextlib.contextmanager
def server(url: str, log: Path, *, freeze_heap: bool, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``trialtwin serve --db url`` on a free port; yields its base URL and process id; stopped (SIGTERM, then
    SIGKILL)."""
    import httpx

    port = free_port()
    cmd = [str(Path(sys.executable).with_name("trialtwin")), "serve", "--db", url, "--port", str(port)]
    cmd += ["--workers", str(workers)]
    env = {**os.environ, "TRIALTWIN_FREEZE_HEAP": "1" if freeze_heap else "0"}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"trialtwin serve exited ({proc.returncode}): {log.read_text()[-500:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("trialtwin serve did not answer within 60 s")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and its live children (uvicorn's workers) (Linux
    ``/proc/<pid>/stat``; NaN elsewhere)."""
    total = 0.0
    try:
        stats = [Path(f"/proc/{pid}/stat").read_text()]
    except OSError:
        return float("nan")
    for path in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = path.read_text()
            if int(text.rsplit(")", 1)[1].split()[1]) == pid:
                stats.append(text)
    for text in stats:
        fields = text.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def http_race(url: str, ids: list[str], clients: int, log: Path, *, freeze_heap: bool, workers: int = 1) -> Run | str:
    try:
        import httpx

        import trialtwin.web.app  # noqa: F401  (the web layer exists)
    except ImportError as exc:
        return f"not run: {exc}"
    with server(url, log, freeze_heap=freeze_heap, workers=workers) as (base, pid):
        token = httpx.post(
            base + "/api/v1/tokens", json={"username": "ivan", "password": PASSWORD, "study_id": STUDY}, timeout=30
        )
        if token.status_code != 201:
            return f"not run: POST /api/v1/tokens gave {token.status_code} {token.text[:200]}"
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        sessions = [httpx.Client(base_url=base, headers=headers, timeout=60) for _ in range(clients)]

        def call(c: int, sid: str) -> None:
            r = sessions[c].post(f"/api/v1/studies/{STUDY}/subjects/{sid}/randomization")
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code} {r.text[:200]}")

        try:
            # "cpu ms" is the server's CPU per request (/proc/<pid>/stat); the clients' is printed below the row.
            server_cpu = process_cpu(pid)
            run = race([ids[c::clients] for c in range(clients)], call)
            run.client_cpu, run.cpu = run.cpu, process_cpu(pid) - server_cpu
            return run
        finally:
            for s in sessions:
                s.close()


# ---- one database ----------------------------------------------------------------------------------------------


def run_database(
    label: str,
    url: str,
    clients: int,
    per_client: int,
    workloads: list[str],
    tmp: Path,
    *,
    freeze_heap: bool,
    workers: int = 1,
) -> None:
    n = clients * per_client
    db = Database(url, pool_size=clients)
    try:
        upgrade(db)
        t0 = time.perf_counter()
        user = setup_trial(db)
        plans = {
            w: prepare(db, user, n, screened=w not in ("crf", "crf-1tx"), start=i * n) for i, w in enumerate(workloads)
        }
        order = {sid: k for ids in plans.values() for k, sid in enumerate(ids)}
        print(f"{'':<11} (setup of {len(workloads) * n} subjects: {time.perf_counter() - t0:.0f} s)", flush=True)

        def split(ids: list[str]) -> list[list[str]]:
            return [ids[c::clients] for c in range(clients)]

        def one_tx_randomize(_: int, sid: str) -> None:
            with UnitOfWork(db, actor=user, clock=utc_now) as uow:
                randomize_in(uow, STUDY, sid)

        def one_tx_crf(_: int, sid: str) -> None:
            with UnitOfWork(db, actor=user, clock=utc_now) as uow:
                enter_eligibility_in(uow, STUDY, sid, facts_for(order[sid]))

        calls: dict[str, Callable[[int, str], Any]] = {
            "randomize": lambda _, sid: randomize(db, STUDY, sid, actor=user, clock=utc_now),
            "randomize-1tx": one_tx_randomize,
            "crf": lambda _, sid: enter_eligibility(db, STUDY, sid, facts_for(order[sid]), actor=user, clock=utc_now),
            "crf-1tx": one_tx_crf,
            "randomize-idem": lambda _, sid: randomize_idempotent(
                db, STUDY, sid, key=f"bench-{sid}", actor=user, clock=utc_now
            ),
        }
        statements = [0]  # SQL statements sent by this process (an executemany counts once)

        @event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_: Any) -> None:
            statements[0] += 1

        for workload in workloads:
            committer = group_committer(db)
            batches, jobs, sent = committer.batches, committer.jobs, statements[0]
            if workload == "http":
                result = http_race(
                    db.url.render_as_string(hide_password=False),
                    plans[workload],
                    clients,
                    tmp / f"serve-{label}.log",
                    freeze_heap=freeze_heap,
                    workers=workers,
                )
            else:
                result = race(split(plans[workload]), calls[workload], freeze_heap=freeze_heap)
            if isinstance(result, str):
                print(f"{label:<11} {workload:<14} {result}", flush=True)
                continue
            print(result.row(label, workload, clients), flush=True)
            if result.client_cpu is not None:
                print(
                    f"{'':<11}   cpu ms above: the server process's; the {clients} httpx clients used "
                    f"{result.client_cpu / len(result.latencies) * 1000:.2f} ms per request",
                    flush=True,
                )
            if committer.batches > batches:
                print(
                    f"{'':<11}   group commit: {committer.jobs - jobs} requests in {committer.batches - batches} "
                    f"transactions; {(statements[0] - sent) / len(result.latencies):.2f} SQL statements per request",
                    flush=True,
                )
            for message, count in Counter(result.errors).most_common(3):
                print(f"{'':<11}   error ×{count}: {message[:160]}", flush=True)
            if workload.startswith("randomize") or workload == "http":
                print(f"{'':<11}   {integrity(db, plans[workload])}", flush=True)
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of {', '.join(WORKLOADS)}")
    default_pg = os.environ.get("TRIALTWIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-url", default=default_pg)
    parser.add_argument(
        "--gc",
        choices=["freeze", "default"],
        default="freeze",
        help="freeze: the heap is frozen out of the cyclic GC before each workload, as `trialtwin serve` does at "
        "start-up (default); default: CPython's plain GC, for comparison (full collections then pause 60-100 ms)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes of the server of the http workload (trialtwin serve --workers; default 1)",
    )
    args = parser.parse_args()
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"--workloads: unknown {', '.join(unknown)} (known: {', '.join(WORKLOADS)})")
    freeze = args.gc == "freeze"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"trialtwin service benchmark: {os.cpu_count()} CPU(s), load average {load:.1f} at start, "
        f"GC: {'start-up heap frozen (as trialtwin serve does)' if freeze else 'CPython default'}"
    )
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        median, p99 = fsync_ms(tmp_name)
        print(f"fsync of a 4 KiB append on this disk: median {median:.3f} ms, p99 {p99:.3f} ms")
        print(HEADER, flush=True)
        if args.backend in ("sqlite", "both"):
            run_database(
                "SQLite",
                f"sqlite:///{tmp / 'bench.db'}",
                args.clients,
                args.per_client,
                workloads,
                tmp,
                freeze_heap=freeze,
                workers=args.workers,
            )
        if args.backend in ("postgresql", "both"):
            admin = create_engine(Database(args.pg_url).url, isolation_level="AUTOCOMMIT")
            name = f"tt_bench_{secrets.token_hex(4)}"
            try:
                with admin.connect() as conn:
                    conn.execute(text(f"CREATE DATABASE {name}"))
            except Exception as exc:
                print(f"PostgreSQL  not run: {args.pg_url} unreachable ({str(exc).splitlines()[0]})")
                return
            try:
                url = Database(args.pg_url).url.set(database=name).render_as_string(hide_password=False)
                run_database(
                    "PostgreSQL",
                    url,
                    args.clients,
                    args.per_client,
                    workloads,
                    tmp,
                    freeze_heap=freeze,
                    workers=args.workers,
                )
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                admin.dispose()


if __name__ == "__main__":
    main()
