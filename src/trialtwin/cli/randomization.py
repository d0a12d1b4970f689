"""``trialtwin randomization …``: pre-generated lists with their SHA-256, and balance/predictability simulation."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from trialtwin.cli.console import console, print_json
from trialtwin.cli.db import DbOpt, _open_existing, _url
from trialtwin.engine.randomization import (
    Balance,
    Method,
    RandomizationList,
    SimulationResult,
    generate_list,
    initial_state,
    simulate_allocation,
)
from trialtwin.protocol import load_protocol
from trialtwin.protocol.errors import TrialtwinError

#: Largest --n accepted (entries per stratum for ``list``; subjects for ``simulate``).
MAX_LIST_N = 10_000
MAX_SIMULATE_N = 200_000

app = typer.Typer(
    help=(
        "Randomize subjects: pre-generated permuted-block lists and the operating characteristics of a design.\n\n"
        "The protocol's [bold]randomization[/] section gives the method (stratified permuted blocks or "
        "Pocock–Simon minimisation), the allocation ratio, the stratification factors and the block sizes. "
        "Everything is seeded: the same seed gives the same list.\n\n"
        "Examples:\n\n"
        "  [bold]trialtwin randomization list ever-132-002 --seed 2020 --n 20[/]\n\n"
        "  [bold]trialtwin randomization simulate ever-132-002 --seed 1 --n 331 --method minimization[/]"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

StudyArg = Annotated[str, typer.Argument(help="Built-in study id (see `trialtwin protocol list`) or a protocol file.")]
SeedOpt = Annotated[
    int, typer.Option("--seed", min=0, help="Seed of the random generator (NumPy PCG64); same seed, same result.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _stratum_columns(key: str) -> tuple[str, str]:
    """Column title and cell for a stratum key: ``prior_lines / visceral`` and ``2 / yes``."""
    if "=" not in key:
        return "stratum", key
    pairs = [part.split("=", 1) for part in key.split("|")]
    return " / ".join(f for f, _ in pairs), " / ".join(v for _, v in pairs)


def _sequence(entries: Any) -> str:
    """Arms of a stratum's list, blocks separated by ``|``."""
    parts: list[str] = []
    block = None
    for e in entries:
        if block is not None and e.block != block:
            parts.append("|")
        parts.append(e.arm)
        block = e.block
    return " ".join(parts)


@app.command("list")
def list_command(
    study: StudyArg,
    seed: SeedOpt,
    n: Annotated[
        int,
        typer.Option("--n", min=1, max=MAX_LIST_N, help="Entries per stratum (the last block may be cut at N)."),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Pre-generate the permuted-block list of every stratum, with its SHA-256.

    Each stratum gets N entries, drawn block by block: a block size at
    random from the protocol's randomization.block_sizes, the ratio's share
    of each arm in every block, random order. Each stratum draws from its
    own stream spawned from the seed, so a longer list extends a shorter
    one made with the same seed. The last block may be cut at N.

    The SHA-256 covers a canonical JSON of the list (sorted keys, no
    spaces). Keep the seed sealed, give the digest to the auditor: anyone
    with the seed can regenerate the list and check it.

    Example: [bold]trialtwin randomization list ever-132-002 --seed 2020 --n 20[/]

    Example: [bold]trialtwin randomization list ever-132-002 --seed 2020 --n 60 --json > list.json[/]
    """
    protocol = load_protocol(study)
    result = generate_list(protocol, n, rng=np.random.default_rng(seed))
    if json_out:
        print_json({"seed": seed, "sha256": result.sha256, **result.to_dict()})
        return
    _print_list(result, seed)


def _print_list(result: RandomizationList, seed: int) -> None:
    ratio = ":".join(str(w) for w in result.ratio)
    table = Table(
        title=(
            f"{result.study}: permuted-block list, {result.n_per_stratum} per stratum "
            f"(arms {'/'.join(result.arms)} {ratio}, block sizes {list(result.block_sizes)}, seed {seed})"
        )
    )
    title = _stratum_columns(result.strata[0].stratum)[0] if result.strata else "stratum"
    table.add_column(title, no_wrap=True)
    for arm in result.arms:
        table.add_column(arm, justify="right")
    table.add_column("blocks", justify="right")
    table.add_column("sequence (blocks separated by |)", overflow="fold")
    for stratum in result.strata:
        counts = stratum.arm_counts(result.arms)
        blocks = stratum.entries[-1].block if stratum.entries else 0
        cell = _stratum_columns(stratum.stratum)[1]
        table.add_row(cell, *map(str, counts), str(blocks), _sequence(stratum.entries))
    console.print(table)
    console.print(f"SHA-256: {result.sha256}", soft_wrap=True)


@app.command("list-hash")
def list_hash_command(
    study: Annotated[str, typer.Option("--study", help="Study id in the database.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The study's randomization list SHA-256: recorded when the study was loaded, and recomputed now from the
    sealed seed (requirement E5/G3). For the unblinded statistician; no web route shows it (E2/G5).
    Exits non-zero when they differ or none was recorded.

    Example: [bold]trialtwin randomization list-hash --db sqlite:///trial.db --study ever-132-002[/]
    """
    from trialtwin.services.irt import randomization_list_hash

    database = _open_existing(_url(db))
    try:
        result = randomization_list_hash(database, study)
    finally:
        database.dispose()
    data = {
        "study": result.study_id,
        "recorded_sha256": result.recorded,
        "computed_sha256": result.computed,
        "n_per_stratum": result.n_per_stratum,
        "recorded_at": None if result.recorded_at is None else result.recorded_at.isoformat(),
        "matches": result.matches,
    }
    if as_json:
        print_json(data)
    else:
        console.print(f"[bold]{result.study_id}[/] randomization list, {result.n_per_stratum} slots per stratum")
        console.print(f"recorded: {result.recorded or '(none)'}")
        console.print(f"computed: {result.computed or '(no list: minimisation)'}")
    if not result.matches:
        raise TrialtwinError(
            f"study {study}: the recorded list SHA-256 "
            + ("is missing" if result.recorded is None else "differs from the one recomputed from the seed")
        )


@app.command("backfill-list-hash")
def backfill_list_hash_command(
    study: Annotated[str, typer.Option("--study", help="Study id in the database.")],
    username: Annotated[str, typer.Option("--username", envvar="TRIALTWIN_USER", help="An administrator.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words (goes into the audit trail).")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="TRIALTWIN_PASSWORD",
            help="The administrator's password (asked for, hidden, when not given).",
            show_default=False,
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Record the randomization list SHA-256 of a study loaded before migration 0004, which recorded none.

    The list is recomputed from the study's seed (in its state row, audited since the study was loaded) and its
    hash recorded now, as an audited create whose reason says it is a backfill and why (E5/G3). Administrators
    only (their password is checked like a login). Refused when a hash is recorded already. Afterwards
    `trialtwin randomization list-hash` compares against it.

    Example: [bold]trialtwin randomization backfill-list-hash --db sqlite:///trial.db --study ever-132-002
    --username admin --reason "study loaded in 2025, before list hashes were recorded"[/]
    """
    from trialtwin.services import system_clock
    from trialtwin.services.irt import backfill_randomization_list_hash
    from trialtwin.services.sessions import verify_credentials

    secret = password if password is not None else typer.prompt(f"password of {username}", hide_input=True)
    database = _open_existing(_url(db))
    try:
        actor = verify_credentials(
            database, username, secret, clock=system_clock, purpose=f"randomization backfill-list-hash {study}"
        )
        result = backfill_randomization_list_hash(database, study, reason=reason, actor=actor, clock=system_clock)
    finally:
        database.dispose()
    console.print(
        f"[bold]{result.study_id}[/]: list SHA-256 recorded ({result.n_per_stratum} slots per stratum); "
        "check it with `trialtwin randomization list-hash`."
    )


@app.command("simulate")
def simulate_command(
    study: StudyArg,
    seed: SeedOpt,
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            min=1,
            max=MAX_SIMULATE_N,
            help="Subjects to simulate (default: the protocol's enrollment count).",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        Method | None,
        typer.Option("--method", help="Allocation method (default: the protocol's).", show_default=False),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Simulate N subjects arriving; report balance and predictability.

    Subjects arrive with stratification levels drawn at random (factors
    independent, levels equally likely) and are allocated one by one.

    Balance: counts per arm and imbalance (largest minus smallest count,
    scaled by the ratio) overall, per stratum and per factor level; "max"
    is the largest imbalance reached during accrual.

    Predictability: the share of correct guesses of a site that knows all
    past assignments and guesses the arm that is behind in the subject's
    stratum (convergence strategy). ~50 % means unpredictable (1:1);
    stratified blocks of 2 and 4 give about 72 %. A second guesser names
    the arm minimisation would prefer (about p under minimisation).

    Example: [bold]trialtwin randomization simulate ever-132-002 --seed 1[/]

    Example: [bold]trialtwin randomization simulate ever-132-002 --seed 1 --n 331 --method minimization --json[/]
    """
    protocol = load_protocol(study)
    state = initial_state(protocol, method=method)
    result = simulate_allocation(state, n or protocol.enrollment.count, rng=np.random.default_rng(seed))
    if json_out:
        print_json({"seed": seed, **result.to_dict()})
        return
    _print_simulation(result, seed)


def _balance_table(title: str, first: str, rows: list[tuple[str, Balance]], arms: tuple[str, ...]) -> Table:
    table = Table(title=title)
    table.add_column(first, no_wrap=True)
    table.add_column("n", justify="right")
    for arm in arms:
        table.add_column(arm, justify="right")
    table.add_column("imbalance", justify="right")
    table.add_column("max", justify="right")
    for label, b in rows:
        table.add_row(label, str(b.n), *map(str, b.counts), _number(b.imbalance), _number(b.max_imbalance))
    return table


def _print_simulation(result: SimulationResult, seed: int) -> None:
    ratio = ":".join(str(w) for w in result.ratio)
    console.print(
        f"[bold]{result.study}[/]: {result.n} subjects, {result.method.value}, "
        f"arms {'/'.join(result.arms)} {ratio}, seed {seed}"
    )
    title = _stratum_columns(result.strata[0].label)[0]
    rows = [("all subjects", result.overall)] + [(_stratum_columns(b.label)[1], b) for b in result.strata]
    console.print(_balance_table("Balance overall and per stratum", title, rows, result.arms))
    if result.margins:
        rows = [(f"{m.factor} = {m.level}", m.balance) for m in result.margins]
        console.print(_balance_table("Marginal balance per factor level", "factor level", rows, result.arms))
    console.print(
        f"Predictability (convergence guess within the stratum): {result.predictability:.1%} correct "
        f"({result.correct_guesses}/{result.n}); ~50% is unpredictable for 1:1."
    )
    console.print(
        f"Predictability (guess of the arm minimisation prefers): {result.margin_predictability:.1%} correct "
        f"({result.correct_margin_guesses}/{result.n})."
    )
