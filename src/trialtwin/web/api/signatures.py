"""E-signatures on a subject's casebook or visit (21 CFR 11.50, 11.70, 11.200; see
``trialtwin.services.signatures``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from trialtwin.services.signatures import SignatureView, list_signatures, sign
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import SignatureOut, SignRequest

router = APIRouter(tags=["signatures"])

PATH = "/studies/{study_id}/subjects/{screening_id}/signatures"


def _out(view: SignatureView) -> SignatureOut:
    return SignatureOut(
        id=view.id,
        study_id=view.study_id,
        screening_id=view.screening_id,
        scope=view.scope,
        visit_id=view.visit_id,
        meaning=view.meaning,
        username=view.username,
        printed_name=view.printed_name,
        signed_at=view.signed_at,
        content_sha256=view.content_sha256,
        status="valid" if view.status == "valid" else "broken",
        manifestation=view.manifestation,
    )


@router.post(PATH, response_model=SignatureOut, status_code=201)
def create_signature(
    study_id: str,
    screening_id: str,
    body: SignRequest,
    access: Annotated[Access, Depends(authorize("sign"))],
    db: DbDep,
    clock: ClockDep,
) -> SignatureOut:
    """Sign with the password (and the user id at the first signing of a session or with an API token)."""
    who = access.who
    view = sign(
        db,
        study_id,
        screening_id,
        meaning=body.meaning,
        password=body.password,
        username=body.username,
        scope=body.scope,
        visit_id=body.visit_id,
        session_pk=who.session_id if who.via == "session" else None,
        actor=who.user_id,
        clock=clock,
    )
    return _out(view)


@router.get(PATH, response_model=list[SignatureOut])
def signatures(
    study_id: str, screening_id: str, _: Annotated[Access, Depends(authorize("subject.read"))], db: DbDep
) -> list[SignatureOut]:
    """The subject's signatures with their manifestation and status (valid, or broken by a later change)."""
    return [_out(v) for v in list_signatures(db, study_id, screening_id)]
