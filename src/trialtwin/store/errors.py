"""Errors of the store: user-facing (``TrialtwinError``), so the CLI prints them without a traceback."""

from __future__ import annotations

from trialtwin.protocol.errors import TrialtwinError


class StoreError(TrialtwinError):
    """The database cannot be used as asked: a bad URL, an unreadable key, a missing row, an older schema."""


class AuditKeyError(StoreError):
    """The audit signing key is missing, unreadable or of an unsupported kind."""


class RecordNotFound(StoreError):
    """A study, site, subject or user named by the caller does not exist."""
