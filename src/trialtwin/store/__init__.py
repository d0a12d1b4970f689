"""The service's database: tables, the audit chain, the randomization ledger, migrations.

May import only ``trialtwin.protocol`` and ``trialtwin.engine`` (DESIGN.md layer table).
See docs/service/store-and-audit.md.
"""

from trialtwin.store.audit import (
    AuditRecorder,
    ChainReport,
    Checkpoint,
    create_checkpoint,
    load_checkpoint,
    load_signer,
    save_checkpoint,
    verify_chain,
)
from trialtwin.store.db import DEFAULT_URL, Database, open_database
from trialtwin.store.errors import AuditKeyError, RecordNotFound, StoreError
from trialtwin.store.tables_access import ApiToken, ESignature, SecurityEvent, WebSession  # registers the access tables
from trialtwin.store.tables_irt import ManualAllocation, RandomizationInvalidation  # registers the IRT tables

__all__ = [
    "DEFAULT_URL",
    "ApiToken",
    "AuditKeyError",
    "AuditRecorder",
    "ChainReport",
    "Checkpoint",
    "Database",
    "ESignature",
    "ManualAllocation",
    "RandomizationInvalidation",
    "RecordNotFound",
    "SecurityEvent",
    "StoreError",
    "WebSession",
    "create_checkpoint",
    "load_checkpoint",
    "load_signer",
    "open_database",
    "save_checkpoint",
    "verify_chain",
]
