"""Service benchmark (issue 7): concurrent randomizations through the real use case, on SQLite and PostgreSQL.

CLIENTS threads (default 32) each randomize PER_CLIENT subjects (default 500) at the same time, through
``trialtwin.services.randomize`` (one transaction each: lock the state, allocate, write ledger + state +
audit). Prints randomizations per second and p50/p95/p99 latency per database, and the integrity figures
(duplicates, gaps, audited allocations, chain verification). Asserts nothing.

The subjects are registered, consented and screened beforehand (not timed), in transactions of 200 through
the ``*_in`` use cases. PostgreSQL: ``--pg-url`` (default ``$TRIALTWIN_TEST_PG_URL`` or
``postgresql://postgres@127.0.0.1:5432/postgres``) must allow CREATE DATABASE; a scratch database is created
and dropped; the run is skipped (and says so) when the server is unreachable.

    .venv/bin/python benchmarks/service.py                      # 32 × 500 on both databases
    .venv/bin/python benchmarks/service.py --clients 16 --per-client 100 --backend sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, func, select, text

from trialtwin.protocol import load_protocol
from trialtwin.services import (
    UnitOfWork,
    bootstrap_admin,
    create_user,
    enter_eligibility_in,
    grant_role,
    load_study,
    randomize,
    record_consent_in,
    register_screening_in,
)
from trialtwin.store import Database
from trialtwin.store.audit import verify_chain
from trialtwin.store.ledger import ledger
from trialtwin.store.migrations import upgrade
from trialtwin.store.tables import AuditLog

STUDY = "ever-132-002"
#: An eligible patient: the documented example (docs/examples/screening-eligible.json), liver enzymes <= 2.5×ULN.
FACTS = {
    **json.loads((Path(__file__).parents[1] / "docs" / "examples" / "screening-eligible.json").read_text()),
    "ast": 1.1,
    "alt": 1.0,
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def facts_for(k: int) -> dict[str, object]:
    stratum = (k * 7 + k // 8) % 8
    return FACTS | {
        "prior_chemo_lines_mbc": 2 + (stratum // 4) % 2,
        "visceral_metastasis": (stratum // 2) % 2 == 0,
        "prior_cdk46_inhibitor": stratum % 2 == 0,
    }


def prepare(db: Database, n: int) -> tuple[int, list[str]]:
    protocol = load_protocol(STUDY)
    admin = bootstrap_admin(db, "admin", "Bench Admin", "benchmark password", clock=utc_now).id
    load_study(db, protocol, seed=2020, actor=admin, clock=utc_now)
    user = create_user(db, "ivan", "Ivan Investigator", "benchmark password", actor=admin, clock=utc_now).id
    grant_role(db, "ivan", "investigator", actor=admin, clock=utc_now)
    sites = [s.id for s in protocol.sites[:10]]
    ids: list[str] = []
    while len(ids) < n:
        with UnitOfWork(db, actor=user, clock=utc_now) as uow:
            for _ in range(min(200, n - len(ids))):
                k = len(ids)
                sid = register_screening_in(uow, STUDY, sites[k % len(sites)]).screening_id
                record_consent_in(uow, STUDY, sid, dt.date(2025, 3, 1), form_version="v1")
                enter_eligibility_in(uow, STUDY, sid, facts_for(k))
                ids.append(sid)
    return user, ids


def race(db: Database, user: int, ids: list[str], clients: int) -> tuple[float, list[float], int]:
    work = [ids[c::clients] for c in range(clients)]
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(c: int) -> None:
        barrier.wait()
        for sid in work[c]:
            t0 = time.perf_counter()
            try:
                randomize(db, STUDY, sid, actor=user, clock=utc_now)
            except Exception:
                errors[c] += 1
            latencies[c].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start, [x for lat in latencies for x in lat], sum(errors)


def integrity(db: Database, n: int) -> str:
    with db.read_session() as session:
        entries = ledger(session, STUDY)
        duplicates = len(entries) - len({e.subject_id for e in entries})
        sequences = [e.sequence for e in entries]
        gaps = 0 if sequences == list(range(1, len(entries) + 1)) else 1
        strata: dict[str, list[int]] = defaultdict(list)
        for e in entries:
            strata[e.stratum].append(e.stratum_sequence)
        stratum_gaps = sum(sorted(v) != list(range(1, len(v) + 1)) for v in strata.values())
        audited = Counter(
            session.execute(select(AuditLog.record_id).where(AuditLog.table_name == "randomization_ledger")).scalars()
        )
        once = sum(audited[str(e.id)] == 1 for e in entries)
        report = verify_chain(session)
        total = session.execute(select(func.count()).select_from(AuditLog)).scalar_one()
    return (
        f"ledger {len(entries)}/{n}, duplicates {duplicates}, sequence gaps {gaps}, strata with gaps {stratum_gaps}, "
        f"allocations audited once {once}/{len(entries)}, chain {'verifies' if report.ok else 'BROKEN'} "
        f"({total} entries)"
    )


def run(label: str, url: str, clients: int, per_client: int) -> None:
    db = Database(url, pool_size=clients)
    try:
        upgrade(db)
        t0 = time.perf_counter()
        user, ids = prepare(db, clients * per_client)
        prep = time.perf_counter() - t0
        elapsed, latencies, errors = race(db, user, ids, clients)
        ms = np.percentile(np.array(latencies) * 1000, [50, 95, 99])
        n = len(latencies)
        print(
            f"{label:<11} {clients} clients × {per_client}: {n / elapsed:7.1f} randomizations/s  "
            f"p50 {ms[0]:6.1f} ms  p95 {ms[1]:6.1f} ms  p99 {ms[2]:6.1f} ms  "
            f"({elapsed:.1f} s; errors {errors}; setup {prep:.1f} s)"
        )
        print(f"{'':<11} {integrity(db, n)}")
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=500)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    default_pg = os.environ.get("TRIALTWIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-url", default=default_pg)
    args = parser.parse_args()
    print(f"trialtwin service benchmark: {os.cpu_count()} CPU(s); randomize() = one transaction with audit")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.clients, args.per_client)
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
            run("PostgreSQL", url, args.clients, args.per_client)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()


if __name__ == "__main__":
    main()
