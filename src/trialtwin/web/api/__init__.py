"""The JSON API under ``/api/v1`` (web-contract.md). Every route names its policy action through
``Depends(authorize(...))``."""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from trialtwin.web.api import (
    account,
    admin,
    audit,
    auth,
    casebook,
    irt,
    records,
    redactions,
    signatures,
    sites,
    studies,
)

router = APIRouter()
router.include_router(auth.router)
router.include_router(account.router)
router.include_router(studies.router)
router.include_router(audit.router)
router.include_router(signatures.router)
router.include_router(records.router)
router.include_router(redactions.router)
router.include_router(admin.router)
router.include_router(casebook.router)
router.include_router(irt.router)
router.include_router(sites.router)

# Routes over services that other helpers add (clinical use cases, export): included when present.
for _name in ("clinical", "export"):
    try:
        _module = importlib.import_module(f"trialtwin.web.api.{_name}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - depends on what is installed
        if _exc.name != f"trialtwin.web.api.{_name}":
            raise
        continue
    router.include_router(_module.router)

__all__ = ["router"]
