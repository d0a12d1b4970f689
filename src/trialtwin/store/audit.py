"""The audit trail: append-only, hash-chained, verifiable, with signed checkpoints.

Every create or update of a record writes one :class:`~trialtwin.store.tables.AuditLog` row in the same
transaction (21 CFR 11.10(e); ICH E6(R3) 4.2.2; EMA/INS/GCP/112288/2023 §6): who (user id), when (the
use case's server clock, UTC), the table, record id and fields, the old and new values, and the reason
(required for any change after the first save). Values are canonical JSON (sorted keys, no whitespace,
UTF-8, no NaN), so the bytes that were hashed are the bytes that are stored.

Hash chain (Crosby & Wallach 2009, "Efficient Data Structures for Tamper-Evident Logging", §3; RFC 6962 §2
uses the same idea for its Merkle tree): entry *n* stores ``prev_hash`` = hash of entry *n−1* (64 zeros for
the first) and ``hash`` = SHA-256 of the canonical JSON of every field of entry *n* including ``seq`` and
``prev_hash``. Editing a field breaks that entry's hash; deleting, inserting or reordering entries breaks the
``seq`` run or the next entry's ``prev_hash``. Truncating the tail leaves a valid shorter chain: it is caught
by the ``audit_head`` row (unless the tamperer also rewrote it) and always by a **signed checkpoint** taken
before, i.e. an HMAC-SHA256 (RFC 2104) or Ed25519 (RFC 8032) signature over (sequence, head hash,
timestamp). A tamperer who rewrites the whole chain without the key is caught by any checkpoint; entries
appended after the last checkpoint by someone with write access to the database are indistinguishable from
real ones (so checkpoint often, and keep copies off the database server).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import importlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from trialtwin.store.errors import AuditKeyError, StoreError
from trialtwin.store.tables import AuditAction, AuditCheckpoint, AuditHead, AuditLog, Base

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: Tag of a checkpoint document (part of the signed message).
CHECKPOINT_SCHEMA = "trialtwin.audit-checkpoint/1"
#: Values never written to the audit trail in clear (the change itself is still logged).
REDACTED_FIELDS: dict[str, frozenset[str]] = {"users": frozenset({"password_hash"})}
REDACTED = "[redacted]"
#: Reason prefix of a redaction entry (:meth:`AuditRecorder.redact`).
REDACTION_PREFIX = "redaction: "
#: Environment variables naming the checkpoint key (a file path, or the HMAC secret itself).
KEY_FILE_ENV = "TRIALTWIN_AUDIT_KEY_FILE"
KEY_ENV = "TRIALTWIN_AUDIT_KEY"


# --------------------------------------------------------------------------------------------------------------
# Canonical values


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds and ``+00:00`` (the one text form of a timestamp)."""
    if value.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware (got {value!r})")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def to_jsonable(value: Any) -> Any:
    """``value`` as JSON data: dates ISO, timestamps :func:`timestamp_text`, enums their value, tuples lists.
    ``TypeError`` for anything else that JSON cannot hold."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value!r} has no JSON form")
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, dt.datetime):
        return timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"{type(value).__name__} value {value!r} has no JSON form")


def _json_default(value: Any) -> Any:
    jsonable = to_jsonable(value)
    if jsonable is value:  # pragma: no cover - json handles these itself
        raise TypeError(f"{type(value).__name__} value {value!r} has no JSON form")
    return jsonable


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text (non-ASCII kept), no NaN (RFC 8785 in spirit); dates and
    timestamps as in :func:`to_jsonable`."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    )


def _column_value(value: Any) -> Any:
    # JSON columns hold JSON data already: no deep walk (the state document is large and written often).
    if isinstance(value, dict | list):
        return value
    return to_jsonable(value)


def record_values(record: Base) -> dict[str, Any]:
    """Every column of ``record`` as JSON data (redacted fields replaced by ``[redacted]``)."""
    mapper = sa_inspect(type(record))
    redacted = REDACTED_FIELDS.get(record.__tablename__, frozenset())
    out: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        value = getattr(record, attr.key)
        out[attr.key] = REDACTED if attr.key in redacted else _column_value(value)
    return out


def record_id(record: Base) -> str:
    """The primary key of ``record`` as text (``a/b`` for a composite key)."""
    identity = sa_inspect(record).identity
    if identity is None:
        raise StoreError(f"{record.__tablename__}: the record has no primary key yet (flush it first)")
    return "/".join(str(v) for v in identity)


# --------------------------------------------------------------------------------------------------------------
# Entries and the chain


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A change to record in the audit trail: ``old`` is ``None`` for a create; ``new`` holds the changed
    fields (all fields for a create)."""

    action: AuditAction
    table: str
    record_id: str
    new: Mapping[str, Any]
    old: Mapping[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """The content of one audit row, exactly as hashed (values are canonical JSON text)."""

    seq: int
    at: str
    user_id: int
    action: str
    table_name: str
    record_id: str
    fields: str
    old_value: str | None
    new_value: str
    reason: str | None
    prev_hash: str
    hash: str = ""

    def payload(self) -> dict[str, Any]:
        """Everything but ``hash``: what the hash covers."""
        return {
            "seq": self.seq,
            "at": self.at,
            "user_id": self.user_id,
            "action": self.action,
            "table": self.table_name,
            "record_id": self.record_id,
            "fields": self.fields,
            "old": self.old_value,
            "new": self.new_value,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of :meth:`payload`."""
        return hashlib.sha256(canonical_json(self.payload()).encode("utf-8")).hexdigest()

    @classmethod
    def from_row(cls, row: AuditLog) -> AuditEntry:
        return cls(
            seq=row.seq,
            at=timestamp_text(row.at),
            user_id=row.user_id,
            action=row.action,
            table_name=row.table_name,
            record_id=row.record_id,
            fields=row.fields,
            old_value=row.old_value,
            new_value=row.new_value,
            reason=row.reason,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


#: JSON text of a string as :func:`canonical_json` writes it (``ensure_ascii=False``).
_encode_text = json.encoder.encode_basestring


def _canonical_values(values: Mapping[str, Any], memo: dict[int, tuple[Any, str]]) -> str:
    """``canonical_json(values)`` for the old or new values of an event, the same text, with the JSON
    documents among them (``dict``/``list`` values) encoded once per append: a randomization's state is the
    new value of its state-row entry, the old value of the next one and part of its ledger row's entry."""
    documents = False
    for key, value in values.items():
        if type(key) is not str:
            return canonical_json(values)
        documents = documents or type(value) is dict or type(value) is list
    if not documents:
        return canonical_json(values)
    parts = []
    for key in sorted(values):
        value = values[key]
        kind = type(value)
        if kind is str:
            text = _encode_text(value)
        elif kind is int or value is None or kind is bool:
            text = json.dumps(value)
        elif kind is dict or kind is list:
            hit = memo.get(id(value))
            if hit is None or hit[0] is not value:
                hit = memo[id(value)] = (value, canonical_json(value))
            text = hit[1]
        else:
            text = canonical_json(value)
        parts.append(f"{_encode_text(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def _fields(event: AuditEvent) -> str:
    return ",".join(sorted(event.new))


def _lock_head(session: Session) -> AuditHead:
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        raise StoreError("the audit_head row is missing: the database was not created by `trialtwin db upgrade`")
    return head


def append_audit(session: Session, events: Sequence[AuditEvent], *, user_id: int, at: dt.datetime) -> list[AuditLog]:
    """Append one audit row per event, chained to the current head, in the session's transaction.

    The chain head is locked first (``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already holds
    the write lock), so concurrent transactions append one after the other without gaps.
    """
    return append_audit_groups(session, [(events, user_id, at)])


def append_audit_groups(
    session: Session,
    groups: Sequence[tuple[Sequence[AuditEvent], int, dt.datetime]],
    *,
    return_rows: bool = True,
) -> list[AuditLog]:
    """:func:`append_audit` for several use cases committed together (group commit): each ``(events, user id,
    time)`` in turn, chained in that order, under one lock of the head. With ``return_rows=False`` the rows
    are inserted with one Core ``INSERT`` (executemany, no ORM objects) and ``[]`` is returned: the same rows,
    less work for the group-commit writer, which does not read them back."""
    if not any(events for events, _, _ in groups):
        return []
    head = _lock_head(session)
    seq, prev = head.seq, head.hash
    values: list[dict[str, Any]] = []
    memo: dict[int, tuple[Any, str]] = {}  # JSON documents encoded in this append (kept alive: ids stay unique)
    for events, user_id, at in groups:
        when = timestamp_text(at)
        for event in events:
            if event.action is AuditAction.UPDATE and not (event.reason and event.reason.strip()):
                raise StoreError(f"{event.table} {event.record_id}: a change after the first save needs a reason")
            seq += 1
            entry = AuditEntry(
                seq=seq,
                at=when,
                user_id=user_id,
                action=event.action.value,
                table_name=event.table,
                record_id=event.record_id,
                fields=_fields(event),
                old_value=None if event.old is None else _canonical_values(event.old, memo),
                new_value=_canonical_values(event.new, memo),
                reason=event.reason,
                prev_hash=prev,
            )
            digest = entry.compute_hash()
            values.append(
                {
                    "seq": seq,
                    "at": at,
                    "user_id": user_id,
                    "action": entry.action,
                    "table_name": entry.table_name,
                    "record_id": entry.record_id,
                    "fields": entry.fields,
                    "old_value": entry.old_value,
                    "new_value": entry.new_value,
                    "reason": entry.reason,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
    rows: list[AuditLog] = []
    if return_rows:
        rows = [AuditLog(**v) for v in values]
        session.add_all(rows)
    else:
        # Core, not ORM bulk: the ORM would split the rows into batches by which values are None.
        session.execute(insert(cast(Table, AuditLog.__table__)), values)
    head.seq, head.hash = seq, prev
    session.flush()
    return rows


def iter_entries(session: Session, *, batch: int = 2000) -> Iterator[AuditEntry]:
    """The audit rows in ``seq`` order, streamed in batches (plain rows: nothing enters the session)."""
    table = AuditLog.__table__
    last: int | None = None
    while True:
        query = select(table).order_by(table.c.seq).limit(batch)
        if last is not None:
            query = query.where(table.c.seq > last)
        chunk = [
            AuditEntry(
                seq=r.seq,
                at=timestamp_text(r.at),
                user_id=r.user_id,
                action=r.action,
                table_name=r.table_name,
                record_id=r.record_id,
                fields=r.fields,
                old_value=r.old_value,
                new_value=r.new_value,
                reason=r.reason,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in session.execute(query)
        ]
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].seq


# --------------------------------------------------------------------------------------------------------------
# Checkpoints and keys


class Signer(Protocol):
    """Signs and verifies checkpoint messages."""

    @property
    def algorithm(self) -> str: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, signature: bytes) -> bool: ...


class HmacSigner:
    """HMAC-SHA256 (RFC 2104) with a server secret of at least 32 bytes. The key id is a SHA-256 of the
    secret under a fixed label (it names the key without revealing it)."""

    algorithm = "hmac-sha256"
    MIN_BYTES = 32

    def __init__(self, secret: bytes) -> None:
        if len(secret) < self.MIN_BYTES:
            raise AuditKeyError(
                f"the audit HMAC key has {len(secret)} bytes; at least {self.MIN_BYTES} are needed "
                "(make one with: trialtwin audit keygen --out audit.key)"
            )
        self._secret = secret
        self.key_id = hashlib.sha256(b"trialtwin-audit-key-id:" + secret).hexdigest()[:16]

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def verify(self, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(message), signature)


def _ed25519() -> Any:
    try:
        return importlib.import_module("cryptography.hazmat.primitives.asymmetric.ed25519")
    except ImportError:
        raise AuditKeyError(
            "an Ed25519 key needs the 'cryptography' package (pip install cryptography), or use an HMAC key"
        ) from None


def _serialization() -> Any:
    return importlib.import_module("cryptography.hazmat.primitives.serialization")


class Ed25519Signer:
    """Ed25519 (RFC 8032) via the ``cryptography`` package. With only the public key it verifies and cannot
    sign (an inspector can check checkpoints without being able to make them)."""

    algorithm = "ed25519"

    def __init__(self, private_key: Any = None, public_key: Any = None) -> None:
        if private_key is None and public_key is None:
            raise AuditKeyError("an Ed25519 signer needs a private or a public key")
        self._private = private_key
        self._public: Any = public_key if private_key is None else private_key.public_key()
        ser = _serialization()
        raw = self._public.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(_ed25519().Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        if self._private is None:
            raise AuditKeyError("this Ed25519 key is public only")
        ser = _serialization()
        pem: bytes = self._private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        return pem

    def public_pem(self) -> bytes:
        ser = _serialization()
        pem: bytes = self._public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
        return pem

    def sign(self, message: bytes) -> bytes:
        if self._private is None:
            raise AuditKeyError("this Ed25519 key is public only: it can verify checkpoints but not sign them")
        signature: bytes = self._private.sign(message)
        return signature

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._public.verify(signature, message)
        except Exception:  # cryptography raises InvalidSignature
            return False
        return True


def signer_from_bytes(data: bytes, *, source: str = "key") -> Signer:
    """A signer from key material: a PEM Ed25519 private or public key, or else an HMAC secret (the bytes
    as given, surrounding whitespace removed)."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        _ed25519()
        ser = _serialization()
        try:
            if b"PRIVATE KEY" in text.split(b"\n", 1)[0]:
                return Ed25519Signer(private_key=ser.load_pem_private_key(text, password=None))
            return Ed25519Signer(public_key=ser.load_pem_public_key(text))
        except (ValueError, TypeError) as exc:
            raise AuditKeyError(f"{source}: not a usable Ed25519 PEM key ({exc})") from None
    return HmacSigner(text)


def load_signer(path: str | Path | None = None) -> Signer:
    """The checkpoint key from ``path``, else from ``$TRIALTWIN_AUDIT_KEY_FILE``, else the HMAC secret in
    ``$TRIALTWIN_AUDIT_KEY`` (the server settings). ``AuditKeyError`` when none is set or it is unusable."""
    chosen = path or os.environ.get(KEY_FILE_ENV)
    if chosen:
        try:
            data = Path(chosen).read_bytes()
        except OSError as exc:
            raise AuditKeyError(f"cannot read the audit key file {str(chosen)!r}: {exc.strerror}") from None
        return signer_from_bytes(data, source=str(chosen))
    secret = os.environ.get(KEY_ENV)
    if secret:
        return signer_from_bytes(secret.encode("utf-8"), source=f"${KEY_ENV}")
    raise AuditKeyError(
        f"no audit signing key: pass --key-file, or set ${KEY_FILE_ENV} (a key file) or ${KEY_ENV} (an HMAC "
        "secret of 32 bytes or more); make a key with: trialtwin audit keygen --out audit.key"
    )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "the chain had ``sequence`` entries ending in ``head_hash`` at ``timestamp``"."""

    sequence: int
    head_hash: str
    timestamp: str
    algorithm: str
    key_id: str
    signature: str = ""

    def message(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature, tagged with the schema."""
        data = {
            "schema": CHECKPOINT_SCHEMA,
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "timestamp": self.timestamp,
            "algorithm": self.algorithm,
            "key_id": self.key_id,
        }
        return canonical_json(data).encode("utf-8")

    def verify_signature(self, signer: Signer) -> bool:
        if signer.algorithm != self.algorithm or signer.key_id != self.key_id:
            return False
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return False
        return signer.verify(self.message(), signature)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CHECKPOINT_SCHEMA,
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "timestamp": self.timestamp,
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "checkpoint") -> Checkpoint:
        if not isinstance(data, Mapping) or data.get("schema") != CHECKPOINT_SCHEMA:
            raise StoreError(f"{source}: not a trialtwin audit checkpoint (schema {CHECKPOINT_SCHEMA!r})")
        try:
            sequence = data["sequence"]
            if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
                raise TypeError("sequence")
            values = [data[k] for k in ("head_hash", "timestamp", "algorithm", "key_id", "signature")]
            if not all(isinstance(v, str) for v in values):
                raise TypeError("text fields")
        except (KeyError, TypeError) as exc:
            raise StoreError(f"{source}: malformed checkpoint ({exc})") from None
        return cls(sequence, *values)

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> Checkpoint:
        return cls(row.seq, row.head_hash, timestamp_text(row.at), row.algorithm, row.key_id, row.signature)


def create_checkpoint(session: Session, signer: Signer, *, now: dt.datetime) -> Checkpoint:
    """Sign the current head (sequence, hash) at ``now`` and store the checkpoint; returns it (to export).

    The head is locked while it is read, so the checkpoint names a committed state of the chain.
    """
    head = _lock_head(session)
    unsigned = Checkpoint(head.seq, head.hash, timestamp_text(now), signer.algorithm, signer.key_id)
    signature = base64.b64encode(signer.sign(unsigned.message())).decode("ascii")
    checkpoint = Checkpoint(head.seq, head.hash, unsigned.timestamp, signer.algorithm, signer.key_id, signature)
    session.add(
        AuditCheckpoint(
            seq=checkpoint.sequence,
            head_hash=checkpoint.head_hash,
            at=now,
            algorithm=checkpoint.algorithm,
            key_id=checkpoint.key_id,
            signature=checkpoint.signature,
        )
    )
    session.flush()
    return checkpoint


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> None:
    """Write ``checkpoint`` as JSON to ``path`` (keep copies away from the database server)."""
    try:
        Path(path).write_text(json.dumps(checkpoint.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot write the checkpoint to {str(path)!r}: {exc.strerror}") from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreError(f"cannot read the checkpoint {str(path)!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}: not valid JSON ({exc.msg})") from None
    return Checkpoint.from_dict(data, source=str(path))


# --------------------------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``ok`` when no problem was found; ``length`` entries ending in
    ``head_hash``; ``checkpoints`` checked; ``problems`` in words (the first ``max_problems``)."""

    ok: bool
    length: int
    head_hash: str
    checkpoints: int
    problems: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "length": self.length,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "problems": list(self.problems),
        }


def verify_entries(
    entries: Iterable[AuditEntry], *, want: Iterable[int] = ()
) -> tuple[int, str, list[str], dict[int, str]]:
    """Check a chain read in ``seq`` order: ``(length, last hash, problems, {seq: hash for seq in want})``.

    Each entry must carry the next sequence number, the previous entry's hash, and a hash that matches its
    content. The stored hash is carried forward, so one edited entry is reported once.
    """
    wanted = set(want)
    found: dict[int, str] = {}
    problems: list[str] = []
    expected, prev, length = 1, GENESIS_HASH, 0
    for entry in entries:
        length += 1
        if entry.seq != expected:
            problems.append(
                f"entry {entry.seq}: expected sequence number {expected} (an entry is missing, extra or moved)"
            )
        if entry.prev_hash != prev:
            problems.append(f"entry {entry.seq}: its previous-hash does not match the entry before it (chain broken)")
        if entry.compute_hash() != entry.hash:
            problems.append(f"entry {entry.seq}: its content does not match its hash (edited)")
        if entry.seq in wanted:
            found[entry.seq] = entry.hash
        prev = entry.hash
        expected = entry.seq + 1
    return length, prev, problems, found


def verify_chain(
    session: Session,
    *,
    checkpoints: Iterable[Checkpoint] = (),
    signer: Signer | None = None,
    stored_checkpoints: bool = True,
    max_problems: int = 50,
) -> ChainReport:
    """Verify the audit chain: order, links and hashes of every entry, the ``audit_head`` row, and each
    checkpoint (the given ones and, with ``stored_checkpoints``, those in the database): the chain must still
    hold the checkpoint's head hash at its sequence number (catches tail truncation and key-less rewrites),
    and with a ``signer`` the checkpoint's signature must verify.
    """
    cps = list(checkpoints)
    if stored_checkpoints:
        rows = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars()
        cps += [Checkpoint.from_row(r) for r in rows]
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    length, last, problems, found = verify_entries(iter_entries(session), want=(c.sequence for c in cps))
    if head is None:
        problems.append("the audit_head row is missing")
    elif head.seq != length:
        problems.append(
            f"the chain ends at entry {length} but its head row says entry {head.seq} (truncated or extended)"
        )
    elif head.hash != last:
        problems.append("the head row's hash does not match the last entry (rewritten)")
    for cp in cps:
        label = f"checkpoint {cp.sequence} of {cp.timestamp}"
        if signer is not None and not cp.verify_signature(signer):
            problems.append(f"{label}: the signature does not verify with key {signer.key_id} (forged or wrong key)")
        if cp.sequence == 0:
            if cp.head_hash != GENESIS_HASH:
                problems.append(f"{label}: an empty chain's head hash must be the genesis hash")
        elif cp.sequence > length:
            problems.append(f"{label}: the chain has only {length} entries (truncated)")
        elif found.get(cp.sequence) != cp.head_hash:
            problems.append(f"{label}: the chain's entry {cp.sequence} has another hash (rewritten)")
    return ChainReport(not problems, length, last, len(cps), tuple(problems[:max_problems]))


# --------------------------------------------------------------------------------------------------------------
# Replay


def rebuild_records(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    """Replay the audit trail: ``(table, record id) → values`` after the last entry of each record
    (requirement A2: replaying the audit reproduces the current record)."""
    return replay_entries(iter_entries(session))


def replay_entries(entries: Iterable[AuditEntry]) -> dict[tuple[str, str], dict[str, Any]]:
    """Replay ``entries`` in order: a create sets a record's values, an update overwrites the changed fields.
    The whole trail (:func:`rebuild_records`) or one subject's entries (a casebook export, requirement A8)."""
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        key = (entry.table_name, entry.record_id)
        new = json.loads(entry.new_value)
        if entry.action == AuditAction.CREATE.value:
            records[key] = dict(new)
        else:
            records.setdefault(key, {}).update(new)
    return records


# --------------------------------------------------------------------------------------------------------------
# Recording changes


def _flush_sets_values(mapper: Any) -> bool:
    """Whether an UPDATE of ``mapper``'s table changes values beyond those set (version counter, onupdate).
    Otherwise the update is flushed later, with the next statement: same rows, fewer flushes."""
    cached = _FLUSH_SETS_VALUES.get(mapper)
    if cached is None:
        cached = _FLUSH_SETS_VALUES[mapper] = mapper.version_id_col is not None or any(
            c.onupdate is not None or c.server_onupdate is not None for c in mapper.columns
        )
    return cached


_FLUSH_SETS_VALUES: dict[Any, bool] = {}


class AuditRecorder:
    """Writes records through a session and remembers one :class:`AuditEvent` per create or update; the
    events are appended to the chain by :meth:`append` just before the transaction commits.

    A create logs every field; an update logs the changed fields' old and new values and needs a reason
    (21 CFR 11.10(e): changes must not obscure earlier values; ICH E6(R3) 4.2.2(a)(ii)). Rows are never
    deleted, so there is no delete.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.events: list[AuditEvent] = []

    def create(self, record: Base, *, reason: str | None = None) -> None:
        """Insert ``record`` (flushed, so its id is known) and log it."""
        self.session.add(record)
        self.session.flush()
        self.events.append(
            AuditEvent(AuditAction.CREATE, record.__tablename__, record_id(record), record_values(record), None, reason)
        )

    def update(self, record: Base, changes: Mapping[str, Any], *, reason: str) -> bool:
        """Set ``changes`` on ``record`` and log the fields whose value changed (the version column too, when
        the table has one). Returns False, logging nothing, when nothing changed."""
        table = record.__tablename__
        if not (reason and reason.strip()):
            raise StoreError(f"{table} {record_id(record)}: a change after the first save needs a reason")
        mapper = sa_inspect(type(record))
        columns = {a.key for a in mapper.column_attrs}
        unknown = sorted(set(changes) - columns)
        if unknown:
            raise StoreError(f"{table}: no column(s) {unknown}")
        before = record_values(record)
        raw_before = {k: getattr(record, k) for k in columns}
        for key, value in changes.items():
            setattr(record, key, value)
        if _flush_sets_values(mapper):
            self.session.flush()  # the version counter (or an onupdate column) changes at the UPDATE
        after = record_values(record)
        changed = [k for k in sorted(columns) if raw_before[k] != getattr(record, k)]
        if not changed or changed == self._version_keys(mapper):
            return False
        self.events.append(
            AuditEvent(
                AuditAction.UPDATE,
                table,
                record_id(record),
                {k: after[k] for k in changed},
                {k: before[k] for k in changed},
                reason.strip(),
            )
        )
        return True

    def redact(self, record: Base, field: str, replacement: Any, *, justification: str) -> None:
        """Replace ``field`` of ``record`` by ``replacement`` and log it as an update whose old value reads
        ``[redacted]`` and whose reason is :data:`REDACTION_PREFIX` + ``justification`` (a value entered by
        mistake that must not be shown, e.g. PII; EMA/INS/GCP/112288/2023 §6, requirement A5). Earlier
        entries are never altered (the chain stays verifiable); readers mask ``field`` in the earlier entries
        of the record (``trialtwin.services.browse``)."""
        table = record.__tablename__
        if not (justification and justification.strip()):
            raise StoreError(f"{table} {record_id(record)}: a redaction needs a justification")
        if field not in {a.key for a in sa_inspect(type(record)).column_attrs}:
            raise StoreError(f"{table}: no column {field!r}")
        setattr(record, field, replacement)
        self.session.flush()
        self.events.append(
            AuditEvent(
                AuditAction.UPDATE,
                table,
                record_id(record),
                {field: record_values(record)[field]},
                {field: REDACTED},
                REDACTION_PREFIX + justification.strip(),
            )
        )

    @staticmethod
    def _version_keys(mapper: Any) -> list[str]:
        column = mapper.version_id_col
        if column is None:
            return []
        return [mapper.get_property_by_column(column).key]

    def append(self, *, user_id: int, at: dt.datetime) -> list[AuditLog]:
        """Append the remembered events to the chain (same transaction) and forget them."""
        rows = append_audit(self.session, self.events, user_id=user_id, at=at)
        self.events = []
        return rows
