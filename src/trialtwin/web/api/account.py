"""The caller's own account: ``POST /me/password`` changes their password (policy action ``account.password``:
any logged-in user, on their own account only).

21 CFR 11.300(b) (passwords periodically revised); OWASP ASVS 5.0 6.2.2-6.2.3 (the current and the new password
are both required), 6.3.1 (a wrong current password counts toward the login lock; G17), 7.4.3 (the user's
other sessions end and their API tokens are revoked). Answers: 200 with what ended; 403 for a wrong current
password, 429 while the account is locked; 422 naming ``new_password`` when the new password breaks the policy
(:mod:`trialtwin.services.passwords`) or equals the current one. A browser session making the change stays
logged in; a change made with an API token revokes that token too (the client asks for a new one with the new
password).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from trialtwin.services.users import change_password
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.schemas import Request

router = APIRouter(tags=["auth"])

ChangeOwnPassword = Annotated[Access, Depends(authorize("account.password"))]


class PasswordChangeRequest(Request):
    current_password: str = Field(min_length=1, max_length=1024, description="the password in use now")
    new_password: str = Field(
        min_length=1, max_length=1024, description="12-1024 characters, not common or breached, not the username"
    )


class PasswordChangedOut(BaseModel):
    changed_at: dt.datetime = Field(description="server time of the change (UTC)")
    sessions_ended: int = Field(description="the user's other browser sessions ended by the change")
    tokens_revoked: int = Field(description="the user's API tokens revoked by the change")


@router.post("/me/password", response_model=PasswordChangedOut)
async def change_own_password(
    body: PasswordChangeRequest, access: ChangeOwnPassword, db: DbDep, clock: ClockDep
) -> PasswordChangedOut:
    """Change the caller's password (the current one required). Ends the caller's other sessions and revokes
    their API tokens; 403 wrong current password (counted like a failed login), 422 policy refusal."""
    who = access.who
    done = await run_in_threadpool(
        change_password,
        db,
        who.user_id,
        body.current_password,
        body.new_password,
        clock=clock,
        keep_session=who.session_id if who.via == "session" else None,
    )
    return PasswordChangedOut(
        changed_at=done.changed_at, sessions_ended=done.sessions_ended, tokens_revoked=done.tokens_revoked
    )
