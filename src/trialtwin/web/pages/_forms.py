"""Form input for the pages: the submitted fields as text, typed readers that collect one message per bad
field, and the translation of a service error into the form field it concerns.

Every bad value re-renders the form with the field named and a 4xx status (422 for validation; issue 7 item 9,
trial-system-requirements G9): nothing is written until the whole form is valid.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.web.errors import status_for
from trialtwin.web.schemas import forbidden_character_path

MAX_TEXT = 2000
FORM_LIMIT = 256  # fields per form


async def read_form(request: Request) -> dict[str, str]:
    """The submitted form as ``{name: text}`` (the first value of a repeated name; files ignored)."""
    form = await request.form(max_fields=FORM_LIMIT, max_files=0)
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key not in out:
            if forbidden_character_path(value) is not None:
                raise RequestValidationError(
                    [
                        {
                            "loc": ("body", key),
                            "msg": "contains a NUL character, which no text field accepts",
                            "type": "value_error",
                        }
                    ]
                )
            out[key] = value
    return out


FormData = Annotated[dict[str, str], Depends(read_form)]


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


class FormReader:
    """Typed access to a form's text values; each problem is kept as ``errors[field] = message``."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.errors: dict[str, str] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raw(self, field: str) -> str:
        return self.values.get(field, "").strip()

    def text(self, field: str, *, required: bool = True, max_len: int = MAX_TEXT) -> str | None:
        value = self.raw(field)
        if not value:
            if required:
                self.fail(field, "is required")
            return None
        if len(value) > max_len:
            self.fail(field, f"must be at most {max_len} characters")
            return None
        return value

    def number(
        self, field: str, *, required: bool = True, low: float | None = None, high: float | None = None
    ) -> float | None:
        value = self.raw(field)
        if not value:
            if required:
                self.fail(field, "is required")
            return None
        try:
            number = float(value)
        except ValueError:
            self.fail(field, f"must be a number (got {value!r})")
            return None
        if not math.isfinite(number):
            self.fail(field, f"must be a finite number (got {value!r})")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            self.fail(field, f"must be {_bounds(low, high)} (got {number:g})")
            return None
        return number

    def integer(
        self, field: str, *, required: bool = True, low: int | None = None, high: int | None = None
    ) -> int | None:
        value = self.raw(field)
        if not value:
            if required:
                self.fail(field, "is required")
            return None
        try:
            number = int(value)
        except ValueError:
            self.fail(field, f"must be a whole number (got {value!r})")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            self.fail(field, f"must be {_bounds(low, high)} (got {number})")
            return None
        return number

    def date(self, field: str, *, required: bool = True) -> dt.date | None:
        value = self.raw(field)
        if not value:
            if required:
                self.fail(field, "is required (YYYY-MM-DD)")
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(field, f"must be a date YYYY-MM-DD (got {value!r})")
            return None

    def boolean(self, field: str, *, required: bool = True) -> bool | None:
        """``yes``/``no`` (also true/false, on for a checkbox); empty is unknown."""
        value = self.raw(field).lower()
        if not value:
            if required:
                self.fail(field, "is required (yes or no)")
            return None
        if value in ("yes", "true", "on", "1"):
            return True
        if value in ("no", "false", "off", "0"):
            return False
        self.fail(field, f"must be yes or no (got {self.raw(field)!r})")
        return None

    def choice(self, field: str, options: Mapping[str, Any] | tuple[str, ...], *, required: bool = True) -> str | None:
        value = self.raw(field)
        if not value:
            if required:
                self.fail(field, "is required")
            return None
        if value not in options:
            self.fail(field, f"must be one of {', '.join(options)} (got {value!r})")
            return None
        return value


def service_errors(exc: TrialtwinError, fields: Mapping[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """The HTTP status of a service error and its messages by form field.

    Field-level errors (``problems`` pairs, or a ``field`` attribute, as :mod:`trialtwin.web.errors` reads them)
    are put under the form field ``fields`` maps them to (default: the same name; a dotted name falls back to
    its first part); other errors under ``""`` (shown above the form)."""
    status = status_for(exc)
    names = dict(fields or {})
    errors: dict[str, str] = {}

    def put(field: str, message: str) -> None:
        target = names.get(field)
        if target is None:
            head = field.split(".")[0].split("[")[0]
            target = names.get(head, field)
        errors.setdefault(target, message)

    problems = getattr(exc, "problems", None)
    field = getattr(exc, "field", None)
    if isinstance(problems, list) and problems:
        for name, message in problems:
            put(str(name or ""), str(message))
    elif isinstance(field, str) and field:
        put(field, str(getattr(exc, "detail", None) or exc))
    else:
        errors[""] = str(exc)
    return status, errors
