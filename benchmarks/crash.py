"""Crash durability harness (trial-system-requirements G6; ICH E6(R3) 4.3.3(d), 4.3.6): kill -9 a server in
the middle of concurrent randomizations, again and again, and check that nothing acknowledged was lost.

Each round starts a writer on the same database, sends randomize requests from CLIENTS concurrent clients,
kills the writer with SIGKILL (by its PID) at a random moment while writes are in flight (by default 2.5-4 s
after the first acknowledgement), then opens the database and checks:

* every acknowledged allocation is in the ledger, with the acknowledged sequence and arm (0 lost);
* the ledger has no duplicate subject and no gap (sequence 1..N, each stratum a prefix);
* the audit chain verifies (``store.audit.verify_chain``);
* SQLite: ``PRAGMA integrity_check`` says ``ok``.

Writers (``--writer``):

* ``http``: ``trialtwin serve --db URL`` (uvicorn), clients POST /api/v1/studies/{study}/subjects/{id}/
  randomization with an API token; an acknowledgement is an HTTP 200 the client has received;
* ``services``: a subprocess running ``services.randomize`` from CLIENTS threads (group commit), printing an
  ``ack`` line after the call returns, i.e. after the commit;
* ``ack-before-commit``: the negative control: the same subprocess prints the ``ack`` line *before* the
  commit (and the commit waits 100 ms, a slow disk). It must report losses, which shows the harness can fail.

Prints one line per round and a summary; ``--json`` prints the summary as JSON (used by
tests/integration/test_crash.py). Exit status 0 unless the setup fails (it reports, it does not judge).

    .venv/bin/python benchmarks/crash.py --rounds 50                     # the G6 figure (SQLite, HTTP)
    .venv/bin/python benchmarks/crash.py --rounds 5 --writer services
    .venv/bin/python benchmarks/crash.py --rounds 3 --writer ack-before-commit
    .venv/bin/python benchmarks/crash.py --rounds 5 --backend postgresql   # PostgreSQL (the app is killed)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from service import PASSWORD, STUDY, free_port, prepare, setup_trial, utc_now  # noqa: E402
from trialtwin.services import UnitOfWork, randomize  # noqa: E402
from trialtwin.services.randomize import randomize_in  # noqa: E402
from trialtwin.store import Database  # noqa: E402
from trialtwin.store.audit import verify_chain  # noqa: E402
from trialtwin.store.ledger import ledger  # noqa: E402
from trialtwin.store.migrations import upgrade  # noqa: E402
from trialtwin.store.tables import Subject  # noqa: E402

WRITERS = ("http", "services", "ack-before-commit")
#: The negative control's commit delay, seconds (a slow disk: the window between its ack and its commit).
CONTROL_DELAY_S = 0.1


@dataclass
class Ack:
    screening_id: str
    sequence: int
    arm: str


@dataclass
class RoundResult:
    round: int
    acked: int
    lost: int
    ledger: int
    duplicates: int
    gaps: int
    chain_ok: bool
    integrity: str
    problems: list[str] = field(default_factory=list)


# ---- the writer subprocess (services / negative control) --------------------------------------------------------


def writer_main(url: str, user: int, ids_file: str, clients: int, ack_before_commit: bool) -> None:
    """Randomize the ids in ``ids_file`` from ``clients`` threads; one ``ack <id> <sequence> <arm>`` line each."""
    ids = Path(ids_file).read_text().split()
    db = Database(url, pool_size=clients)
    out_lock = threading.Lock()

    def ack(sid: str, sequence: int, arm: str) -> None:
        with out_lock:
            sys.stdout.write(f"ack {sid} {sequence} {arm}\n")
            sys.stdout.flush()

    def client(items: list[str]) -> None:
        for sid in items:
            try:
                if ack_before_commit:
                    with UnitOfWork(db, actor=user, clock=utc_now) as uow:
                        result = randomize_in(uow, STUDY, sid)
                        ack(sid, result.sequence, result.arm)  # WRONG on purpose: before the commit
                        time.sleep(CONTROL_DELAY_S)
                else:
                    result = randomize(db, STUDY, sid, actor=user, clock=utc_now)
                    ack(sid, result.sequence, result.arm)  # after the commit
            except Exception as exc:  # a refusal: no ack
                with out_lock:
                    sys.stdout.write(f"error {sid} {type(exc).__name__}\n")
                    sys.stdout.flush()

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    threads = [threading.Thread(target=client, args=(ids[c::clients],)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sys.stdout.write("done\n")
    sys.stdout.flush()


# ---- one round -------------------------------------------------------------------------------------------------


def _kill(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def round_subprocess(
    url: str, user: int, ids: list[str], clients: int, control: bool, kill_after: float, tmp: Path
) -> list[Ack]:
    ids_file = tmp / "ids.txt"
    ids_file.write_text("\n".join(ids))
    cmd = [sys.executable, __file__, "--_writer", url, "--_user", str(user), "--_ids", str(ids_file)]
    cmd += ["--clients", str(clients)] + (["--_control"] if control else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    start = time.monotonic()
    while not any(line.startswith("ack") for line in list(lines)) and time.monotonic() - start < 60:
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    time.sleep(kill_after)
    _kill(proc)
    reader.join(10)
    return [Ack(p[1], int(p[2]), p[3]) for p in (line.split() for line in lines) if p and p[0] == "ack"]


def round_http(url: str, ids: list[str], clients: int, kill_after: float, log: Path) -> list[Ack]:
    import httpx

    port = free_port()
    exe = str(Path(sys.executable).with_name("trialtwin"))
    with log.open("ab") as out:
        proc = subprocess.Popen([exe, "serve", "--db", url, "--port", str(port)], stdout=out, stderr=out, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"trialtwin serve exited ({proc.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("trialtwin serve did not answer within 60 s")
            time.sleep(0.1)
        body = {"username": "ivan", "password": PASSWORD, "study_id": STUDY}
        token = httpx.post(base + "/api/v1/tokens", json=body, timeout=30).json()["token"]
        acks: list[Ack] = []
        lock = threading.Lock()
        first = threading.Event()

        def client(items: list[str]) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
                for sid in items:
                    try:
                        r = http.post(f"/api/v1/studies/{STUDY}/subjects/{sid}/randomization")
                    except httpx.HTTPError:
                        return  # the server is gone
                    if r.status_code == 200:
                        data = r.json()
                        with lock:
                            acks.append(Ack(sid, int(data["sequence"]), str(data["arm"])))
                        first.set()

        threads = [threading.Thread(target=client, args=(ids[c::clients],), daemon=True) for c in range(clients)]
        for t in threads:
            t.start()
        first.wait(60)
        time.sleep(kill_after)
        _kill(proc)
        for t in threads:
            t.join(30)
        with lock:
            return list(acks)
    finally:
        if proc.poll() is None:
            _kill(proc)


def check(url: str, acks: list[Ack], number: int) -> RoundResult:
    db = Database(url, pool_size=1)
    try:
        with db.read_session() as session:
            entries = ledger(session, STUDY)
            screening = dict(session.execute(text("SELECT id, screening_id FROM subjects")).all())
            by_subject = {screening[e.subject_id]: e for e in entries}
            lost = [
                a
                for a in acks
                if (e := by_subject.get(a.screening_id)) is None or (e.sequence, e.arm) != (a.sequence, a.arm)
            ]
            duplicates = len(entries) - len({e.subject_id for e in entries})
            gaps = int([e.sequence for e in entries] != list(range(1, len(entries) + 1)))
            strata: dict[str, list[int]] = defaultdict(list)
            for e in entries:
                strata[e.stratum].append(e.stratum_sequence)
            gaps += sum(sorted(v) != list(range(1, len(v) + 1)) for v in strata.values())
            report = verify_chain(session)
            randomized = session.query(Subject).filter(Subject.subject_number.is_not(None)).count()
            if randomized != len(entries):
                gaps += 1
        integrity = "n/a (PostgreSQL)"
        if db.backend == "sqlite":
            with db.engine.connect() as conn:
                integrity = "; ".join(str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check"))
        problems = [f"lost: {a.screening_id} acknowledged as sequence {a.sequence}" for a in lost[:5]]
        problems += list(report.problems[:5])
        return RoundResult(number, len(acks), len(lost), len(entries), duplicates, gaps, report.ok, integrity, problems)
    finally:
        db.dispose()


# ---- driver ----------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.backend == "sqlite":
            url = f"sqlite:///{tmp / 'crash.db'}"
        else:
            admin = create_engine(Database(args.pg_url).url, isolation_level="AUTOCOMMIT")
            name = f"tt_crash_{secrets.token_hex(4)}"
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name}"))

            def drop() -> None:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                admin.dispose()

            stack.callback(drop)
            url = Database(args.pg_url).url.set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        upgrade(db)
        user = setup_trial(db)
        ids = prepare(db, user, args.rounds * args.per_round, screened=True)
        db.dispose()
        rounds: list[RoundResult] = []
        for k in range(args.rounds):
            batch = ids[k * args.per_round : (k + 1) * args.per_round]
            kill_after = rng.uniform(args.kill_min, args.kill_max)
            if args.writer == "http":
                acks = round_http(url, batch, args.clients, kill_after, tmp / "serve.log")
            else:
                control = args.writer == "ack-before-commit"
                acks = round_subprocess(url, user, batch, args.clients, control, kill_after, tmp)
            result = check(url, acks, k + 1)
            rounds.append(result)
            if not args.json:
                print(
                    f"round {k + 1:>3}: killed after {kill_after * 1000:5.0f} ms; acknowledged {result.acked:>4}, "
                    f"lost {result.lost}, ledger {result.ledger}, duplicates {result.duplicates}, gaps {result.gaps}, "
                    f"chain {'ok' if result.chain_ok else 'BROKEN'}, integrity_check {result.integrity}",
                    flush=True,
                )
                for problem in result.problems:
                    print(f"           {problem}")
    summary = {
        "writer": args.writer,
        "backend": args.backend,
        "rounds": len(rounds),
        "acknowledged": sum(r.acked for r in rounds),
        "lost": sum(r.lost for r in rounds),
        "rounds_with_losses": sum(r.lost > 0 for r in rounds),
        "duplicates": sum(r.duplicates for r in rounds),
        "gaps": sum(r.gaps for r in rounds),
        "chain_failures": sum(not r.chain_ok for r in rounds),
        "integrity_ok": sum(r.integrity in ("ok", "n/a (PostgreSQL)") for r in rounds),
        "per_round": [asdict(r) for r in rounds],
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--per-round", type=int, default=800, help="subjects offered per round (default 800)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--writer", choices=WRITERS, default="http")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    default_pg = os.environ.get("TRIALTWIN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-url", default=default_pg)
    parser.add_argument("--kill-min", type=float, default=2.5, help="seconds after the first ack (min)")
    parser.add_argument("--kill-max", type=float, default=4.0, help="seconds after the first ack (max)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--_writer", help=argparse.SUPPRESS)
    parser.add_argument("--_user", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_ids", help=argparse.SUPPRESS)
    parser.add_argument("--_control", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._writer:
        writer_main(args._writer, args._user, args._ids, args.clients, args._control)
        return
    started = dt.datetime.now(dt.UTC)
    summary = run(args)
    if args.json:
        print(json.dumps(summary))
        return
    print(
        f"{summary['writer']} on {summary['backend']}: {summary['rounds']} rounds of kill -9 "
        f"({(dt.datetime.now(dt.UTC) - started).total_seconds():.0f} s): {summary['acknowledged']} acknowledged "
        f"writes, {summary['lost']} lost ({summary['rounds_with_losses']} rounds with losses), "
        f"{summary['duplicates']} duplicates, {summary['gaps']} gaps, {summary['chain_failures']} chain failures, "
        f"integrity_check ok {summary['integrity_ok']}/{summary['rounds']}"
    )


if __name__ == "__main__":
    main()
