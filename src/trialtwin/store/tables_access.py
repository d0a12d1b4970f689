"""Access tables of the web service: sessions, API tokens, the security log, e-signatures, idempotency keys.

Like every table of the service, rows are never deleted (a session is *ended*, a token *revoked*; database
triggers of migration ``0002_access`` refuse ``DELETE``); the security log, signatures and idempotency keys
are never changed either.

Secrets are never stored: a session id and an API token are kept as their SHA-256 (ASVS 7.2.x: a database
leak gives no usable session); only the CSRF token, which is useless without the session cookie, is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trialtwin.store.tables import Base


class WebSession(Base):
    """A browser session (ASVS 7.x; trial-system-requirements G16): the SHA-256 of the random session id,
    the user, the CSRF token, creation (absolute timeout), last activity (idle timeout) and how it ended.
    ``signer_verified_at`` is when the user last entered both signature components (user id and password)
    in this session (21 CFR 11.200(a)(1)(i))."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    signer_verified_at: Mapped[dt.datetime | None]


class ApiToken(Base):
    """An API token bound to one user and one study (21 CFR 11.10(h); ASVS 7.2.2; requirement B7)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class SecurityEvent(Base):
    """One account or security event (ICH E6(R3) 4.2.2(a)(i); ASVS 16.3.1-16.3.2; requirement A6): login
    success and failure, lock, logout, session end, token issue and revocation, signature failures."""

    __tablename__ = "security_log"
    __table_args__ = (Index("ix_security_log_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime]
    event: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(150))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    detail: Mapped[str] = mapped_column(Text)


class ESignature(Base):
    """An electronic signature (21 CFR 11.50, 11.70, 11.200): who (user id and printed name), when (server
    UTC), the meaning, what was signed (the subject's casebook or one visit) and the SHA-256 of the signed
    content. The signature is "broken" when the content's hash no longer matches."""

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[dt.datetime]
    content_sha256: Mapped[str] = mapped_column(String(64))


class IdempotencyKey(Base):
    """A client's ``Idempotency-Key`` and the response it got, so a retried request returns the same answer
    instead of acting twice (ASVS 2.3.3; requirement G2)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request: Mapped[str] = mapped_column(String(255))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]


#: Access tables whose rows are never deleted (migration 0002_access adds the triggers).
ACCESS_TABLES: tuple[str, ...] = ("web_sessions", "api_tokens", "security_log", "signatures", "idempotency_keys")
#: Access tables whose rows are never changed either.
ACCESS_APPEND_ONLY: tuple[str, ...] = ("security_log", "signatures", "idempotency_keys")
