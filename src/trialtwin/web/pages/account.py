"""The account page: change one's own password (policy action ``account.password``; any logged-in user).

21 CFR 11.300(b) (passwords periodically revised); OWASP ASVS 5.0 6.2.2-6.2.3 (the current and the new password,
typed twice); 6.3.1 (a wrong current password counts toward the login lock; G17); 7.4.3 (the user's other
sessions end and their API tokens are revoked; this browser stays logged in). The form is CSRF-protected like
every other (the session's token in the field ``csrf_token``; ASVS 3.5.1, G14). Passwords are taken as typed
(never stripped) and never echoed back into the form. A change answers 303 to ``?changed=1`` (Post/Redirect/
Get), which shows it; errors re-render the form with the field named: 422 (policy, confirmation), 403 (wrong
current password), 429 (locked).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from trialtwin.protocol.errors import TrialtwinError
from trialtwin.services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from trialtwin.services.users import change_password
from trialtwin.web.deps import Access, ClockDep, DbDep, authorize
from trialtwin.web.pages._forms import FormData, service_errors
from trialtwin.web.pages._render import render

router = APIRouter()

PAGE = "/account/password"
ChangeOwnPassword = Annotated[Access, Depends(authorize("account.password"))]
FIELDS = ("current_password", "new_password", "confirm_password")


def _page(
    request: Request,
    access: Access,
    *,
    errors: dict[str, str] | None = None,
    changed: bool = False,
    status_code: int = 200,
) -> Response:
    context = {
        "title": "Change password",
        "errors": errors or {},
        "changed": changed,
        "required": access.who.must_change_password,
        "min_length": MIN_PASSWORD_LENGTH,
        "max_length": MAX_PASSWORD_LENGTH,
    }
    return render(request, "account_password.html", context, principal=access.who, status_code=status_code)


@router.get(PAGE)
def password_form(request: Request, access: ChangeOwnPassword, changed: str | None = None) -> Response:
    """The form (``?changed=1`` after a change says so; after an administrator's reset it says the change is
    needed before anything else, and every other page leads here)."""
    return _page(request, access, changed=changed == "1")


@router.post(PAGE)
async def password_submit(
    request: Request, access: ChangeOwnPassword, db: DbDep, clock: ClockDep, form: FormData
) -> Response:
    current, new, confirm = (form.get(name, "") for name in FIELDS)
    errors: dict[str, str] = {}
    for name, value in zip(FIELDS, (current, new, confirm), strict=True):
        if not value:
            errors[name] = "is required"
        elif len(value) > MAX_PASSWORD_LENGTH:
            errors[name] = f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if not errors and new != confirm:
        errors["confirm_password"] = "does not match the new password"
    if errors:
        return _page(request, access, errors=errors, status_code=422)
    who = access.who
    try:
        await run_in_threadpool(
            change_password,
            db,
            who.user_id,
            current,
            new,
            clock=clock,
            keep_session=who.session_id if who.via == "session" else None,
        )
    except TrialtwinError as exc:
        status, errors = service_errors(exc)
        if status == 429:
            errors = {"current_password": str(exc)}
        return _page(request, access, errors=errors, status_code=status)
    return RedirectResponse(PAGE + "?changed=1", status_code=303)
