"""Electronic signatures of an investigator on a subject's casebook or one visit (21 CFR Part 11).

* **Components** (11.200(a)(1)): the first signing in a continuous session needs both the user id and the
  password; later signings in the same session need at least the password. Outside a continuous session (an
  API token, or a session whose signing was not yet verified) both are needed every time. The user id must be
  the signer's own (11.100(a): a signature belongs to one person). Failed attempts go to the security log
  and count toward the login lock (11.300(d); requirement C5).
* **Binding** (11.70): the signature stores the SHA-256 of the signed content, the canonical JSON of every
  record of the casebook (the subject row and every row of every table with a ``subject_id``, in table and id
  order) or of the visit (the visit row and every row with its ``visit_id``). When the content changes later
  (any correction, any new record), the hash no longer matches and the signature's status is ``broken``; the
  investigator signs again.
* **Manifestation** (11.50): printed name, date and time (UTC) and meaning (authorship, review, approval),
  returned with every signature.
* Only investigators at the subject's site sign (11.10(g)); the signature is a GxP record, written through
  the audit trail (ICH E6(R3) 4.2.2(a)(iii)).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trialtwin.services.access import require_role
from trialtwin.services.errors import ServiceError
from trialtwin.services.sessions import check_credentials
from trialtwin.services.uow import Clock, UnitOfWork
from trialtwin.store.audit import canonical_json, to_jsonable
from trialtwin.store.db import Database
from trialtwin.store.errors import RecordNotFound
from trialtwin.store.repositories import get_subject
from trialtwin.store.tables import Base, Role, Site, Subject, User, Visit
from trialtwin.store.tables_access import ESignature, WebSession

MEANINGS = ("authorship", "review", "approval")
SCOPES = ("casebook", "visit")
#: Tables never part of signed content (the signatures themselves and web bookkeeping).
_EXCLUDED = frozenset({"signatures", "idempotency_keys", "web_sessions", "api_tokens", "security_log"})


class SignatureRefused(ServiceError):
    """The signature was not made: a component is missing or wrong, or the request is malformed. ``field``
    names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class SignatureView:
    """A signature with its manifestation and its status against the current content."""

    id: int
    study_id: str
    screening_id: str
    scope: str
    visit_id: int | None
    meaning: str
    username: str
    printed_name: str
    signed_at: dt.datetime
    content_sha256: str
    status: str

    @property
    def manifestation(self) -> str:
        """Printed name, UTC date-time and meaning (21 CFR 11.50(a))."""
        return f"{self.printed_name} — {self.signed_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC — {self.meaning}"


def _rows(session: Session, table_name: str, column: str, value: int) -> list[dict[str, Any]]:
    table = Base.metadata.tables[table_name]
    query = select(table).where(table.c[column] == value).order_by(*table.primary_key.columns)
    return [to_jsonable(dict(row._mapping)) for row in session.execute(query)]


def content_digest(session: Session, subject: Subject, scope: str, visit_id: int | None) -> str:
    """SHA-256 of the canonical JSON of what a signature covers (see the module docstring)."""
    content: dict[str, Any] = {}
    if scope == "casebook":
        content["subjects"] = _rows(session, "subjects", "id", subject.id)
        for table in Base.metadata.sorted_tables:
            if table.name not in _EXCLUDED and table.name != "subjects" and "subject_id" in table.c:
                content[table.name] = _rows(session, table.name, "subject_id", subject.id)
    else:
        assert visit_id is not None
        content["visits"] = _rows(session, "visits", "id", visit_id)
        for table in Base.metadata.sorted_tables:
            if table.name not in _EXCLUDED and "visit_id" in table.c:
                content[table.name] = _rows(session, table.name, "visit_id", visit_id)
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _check_visit(session: Session, subject: Subject, visit_id: int | None) -> None:
    if visit_id is None:
        raise SignatureRefused("visit_id", "a visit signature needs visit_id")
    visit = session.get(Visit, visit_id)
    if visit is None or visit.subject_id != subject.id:
        raise SignatureRefused("visit_id", f"subject {subject.screening_id} has no visit {visit_id}")


def sign(
    db: Database,
    study_id: str,
    screening_id: str,
    *,
    meaning: str,
    password: str,
    username: str | None = None,
    scope: str = "casebook",
    visit_id: int | None = None,
    session_pk: int | None = None,
    actor: int,
    clock: Clock,
) -> SignatureView:
    """Sign the subject's casebook (or visit ``visit_id``) as ``actor`` with ``meaning``.

    ``session_pk`` is the browser session the request comes from (``None`` for API tokens): both components
    are needed unless this session has verified them before. Raises :class:`SignatureRefused` (field named),
    ``PermissionDenied`` (not an investigator at the subject's site) or ``RecordNotFound``."""
    if meaning not in MEANINGS:
        raise SignatureRefused("meaning", f"meaning must be one of {', '.join(MEANINGS)} (got {meaning!r})")
    if scope not in SCOPES:
        raise SignatureRefused("scope", f"scope must be casebook or visit (got {scope!r})")
    refused: SignatureRefused | None = None
    view: SignatureView | None = None
    with UnitOfWork(db, actor=actor, clock=clock) as uow:
        session = uow.session
        subject = get_subject(session, study_id, screening_id, for_update=True)
        site = session.get(Site, subject.site_id)
        user = require_role(session, actor, {Role.INVESTIGATOR}, site=site)
        web_session = session.get(WebSession, session_pk) if session_pk is not None else None
        continuous = web_session is not None and web_session.user_id == actor and web_session.ended_at is None
        verified = continuous and web_session is not None and web_session.signer_verified_at is not None
        if scope == "visit":
            _check_visit(session, subject, visit_id)
        if not verified and not (username and username.strip()):
            refused = SignatureRefused(
                "username",
                "enter your user id and password: both are needed at the first signing of a session and outside a "
                "continuous session (21 CFR 11.200(a)(1))",
            )
        elif username and username.strip() and username.strip() != user.username:
            refused = SignatureRefused("username", "the user id is not yours; a signature belongs to its signer")
            check_credentials(uow, user.username, "", purpose="signature")  # logs a failure
        elif check_credentials(uow, user.username, password, purpose="signature") is None:
            refused = SignatureRefused("password", "wrong password (or account locked); the signature was not made")
        else:
            digest = content_digest(session, subject, scope, visit_id if scope == "visit" else None)
            row = ESignature(
                study_id=study_id,
                subject_id=subject.id,
                scope=scope,
                visit_id=visit_id if scope == "visit" else None,
                user_id=actor,
                printed_name=user.display_name,
                meaning=meaning,
                signed_at=uow.now,
                content_sha256=digest,
            )
            uow.audit.create(row, reason=f"e-signature ({meaning})")
            if continuous and web_session is not None and not verified:
                web_session.signer_verified_at = uow.now
            view = _view(row, screening_id, user.username, "valid")
    if refused is not None:
        raise refused
    assert view is not None
    return view


def _view(row: Any, screening_id: str, username: str, status: str) -> SignatureView:
    return SignatureView(
        row.id,
        row.study_id,
        screening_id,
        row.scope,
        row.visit_id,
        row.meaning,
        username,
        row.printed_name,
        row.signed_at,
        row.content_sha256,
        status,
    )


def list_signatures(db: Database, study_id: str, screening_id: str) -> list[SignatureView]:
    """The subject's signatures, oldest first, each ``valid`` or ``broken`` against the current content."""
    with db.read_session() as session:
        subject = get_subject(session, study_id, screening_id)
        rows = session.execute(
            select(ESignature, User.username)
            .join(User, User.id == ESignature.user_id)
            .where(ESignature.subject_id == subject.id)
            .order_by(ESignature.id)
        ).all()
        out = []
        for row, username in rows:
            try:
                digest = content_digest(session, subject, row.scope, row.visit_id)
            except RecordNotFound:  # pragma: no cover - rows are never deleted
                digest = ""
            out.append(_view(row, screening_id, username, "valid" if digest == row.content_sha256 else "broken"))
        return out
