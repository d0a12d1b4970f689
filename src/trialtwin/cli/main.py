"""Entry point of the ``trialtwin`` command.

Every command group lives in its own module and is registered below. User errors (``TrialtwinError``) are
turned into one clear message on stderr and exit code 2 here, once, so no command shows a traceback for bad
input.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from trialtwin.cli import calibrate as calibrate_cli
from trialtwin.cli import db as db_cli
from trialtwin.cli import demo as demo_cli
from trialtwin.cli import design as design_cli
from trialtwin.cli import dose as dose_cli
from trialtwin.cli import export as export_cli
from trialtwin.cli import journey as journey_cli
from trialtwin.cli import protocol as protocol_cli
from trialtwin.cli import randomization as randomization_cli
from trialtwin.cli import recist as recist_cli
from trialtwin.cli import report as report_cli
from trialtwin.cli import run as run_cli
from trialtwin.cli import screen as screen_cli
from trialtwin.cli import serve as serve_cli
from trialtwin.cli import simulate as simulate_cli
from trialtwin.cli import stats as stats_cli
from trialtwin.cli import users as users_cli
from trialtwin.cli.console import err_console
from trialtwin.protocol.errors import TrialtwinError


class _Group(TyperGroup):
    """Top-level group: catches user errors from any sub-command."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context type is private
        try:
            return super().invoke(ctx)
        except TrialtwinError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None


app = typer.Typer(
    cls=_Group,
    name="trialtwin",
    help=(
        "Run a randomized oncology trial end to end: as its digital twin and for real.\n\n"
        "Start with [bold]trialtwin protocol list[/] and [bold]trialtwin protocol show ever-132-002[/]."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

# ---- command registration (one line per group/command; keep sorted by name) -----------------------------------
app.command("analyze")(report_cli.analyze_command)
app.add_typer(db_cli.audit_app, name="audit")
app.command("calibrate")(calibrate_cli.calibrate_command)
app.add_typer(db_cli.db_app, name="db")
app.command("demo-data")(demo_cli.demo_command)
app.command("design")(design_cli.design_command)
app.command("dose")(dose_cli.dose_command)
app.command("export")(export_cli.export_command)
app.command("journey")(journey_cli.journey_command)
app.add_typer(protocol_cli.app, name="protocol")
app.add_typer(randomization_cli.app, name="randomization")
app.command("recist")(recist_cli.recist_command)
app.command("report")(report_cli.report_command)
app.command("run")(run_cli.run_command)
app.command("schedule")(protocol_cli.schedule_command)
app.command("screen")(screen_cli.screen_command)
app.command("serve")(serve_cli.serve_command)
app.command("simulate")(simulate_cli.simulate_command)
app.add_typer(simulate_cli.scenario_app, name="scenario")
app.add_typer(stats_cli.app, name="stats")
app.add_typer(users_cli.app, name="users")
# ----------------------------------------------------------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
