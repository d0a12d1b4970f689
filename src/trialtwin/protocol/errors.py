"""Errors raised for bad protocol input; the CLI turns them into one clear message and exit code 2."""

from __future__ import annotations


class TrialtwinError(Exception):
    """Base class for user-facing errors (bad files, bad arguments). Never shown with a traceback."""


class ProtocolError(TrialtwinError):
    """A protocol file or document is malformed or inconsistent.

    ``source`` names the file (or ``<stdin>``), ``problems`` lists ``(field path, message)`` pairs.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1 and not problems[0][0]:
            text = f"{source}: {problems[0][1]}"
        else:
            text = "\n".join(
                [f"{source}: invalid protocol"] + [f"  {path or '(document)'}: {msg}" for path, msg in problems]
            )
        super().__init__(text)
