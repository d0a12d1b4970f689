"""The virtual clock of twin replays (``trialtwin serve --virtual-clock`` only; the routes do not exist otherwise,
so they answer 404).

The twin's patients live in their own calendar (EVER-132-002: 2020-2022), and the service stamps every step with
its server clock (dates in the future are refused, timestamps go to the audit trail). For a replay of the twin
through the live API the server's clock is therefore a :class:`VirtualClock` that the replay moves forward to each
step's time: ``PUT /api/v1/virtual-clock {"now": "2020-11-23T12:00:00Z"}`` (administrators only, policy
``clock.set``). It takes aware times only (422 for a naive one) and does not go back (409) unless the request
says ``"back": true``: the twin numbers its patients in screening order but dates some randomizations a few days
after a later-numbered patient's, so an exact replay steps back by those days at those randomizations, and only
there (``trialtwin.cli.journey.calendar_order``). ``GET /api/v1/virtual-clock`` says what time it is.

21 CFR 11.10(e) and ICH E6(R3) 4.2.2(d) ask for audit-trail timestamps from the system, not the user: in this mode
the system clock is deliberately simulated, which is why it is for twin replays on scratch databases only and
every response carries ``X-Trialtwin-Virtual-Clock: on`` (and every page a banner) so that it can never be taken
for a real trial.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trialtwin.web.deps import Access, authorize

HEADER = "X-Trialtwin-Virtual-Clock"
PATH = "/virtual-clock"


class ClockWentBack(ValueError):
    """A virtual clock was asked to move backwards."""


class VirtualClock:
    """A server clock that stands still until :meth:`set` moves it (thread-safe; forward only unless told)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.utcoffset() is None:
            raise ValueError("a virtual clock needs an aware start time")
        self._now = start.astimezone(dt.UTC)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now

    def set(self, now: dt.datetime, *, back: bool = False) -> dt.datetime:
        """Move to ``now`` (aware; equal to the current time is a no-op); :class:`ClockWentBack` if earlier,
        unless ``back``."""
        if now.utcoffset() is None:
            raise ValueError("a virtual clock takes aware times only")
        now = now.astimezone(dt.UTC)
        with self._lock:
            if now < self._now and not back:
                raise ClockWentBack(
                    f"the virtual clock is at {self._now.isoformat()}, later than {now.isoformat()}: "
                    'it goes back only when asked with "back": true'
                )
            self._now = now
            return now


class ClockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    now: AwareDatetime
    back: bool = False


class ClockOut(BaseModel):
    now: dt.datetime
    virtual: bool = True


router = APIRouter(tags=["virtual clock"])

Public = Annotated[Access, Depends(authorize("public"))]
SetClock = Annotated[Access, Depends(authorize("clock.set"))]


def _clock(request: Request) -> VirtualClock:
    clock = request.app.state.clock
    if not isinstance(clock, VirtualClock):  # pragma: no cover - the router is mounted with a VirtualClock only
        raise HTTPException(404, "this server does not run a virtual clock")
    return clock


@router.get(PATH, response_model=ClockOut)
def read_clock(request: Request, _: Public) -> ClockOut:
    """The server's (virtual) time."""
    return ClockOut(now=_clock(request)())


@router.put(PATH, response_model=ClockOut)
def set_clock(body: ClockIn, request: Request, _: SetClock) -> ClockOut:
    """Move the virtual clock to ``now`` (aware ISO time); 409 if that is earlier than its time, unless
    ``back`` is true."""
    try:
        return ClockOut(now=_clock(request).set(body.now, back=body.back))
    except ClockWentBack as exc:
        raise HTTPException(409, str(exc)) from None


class VirtualClockHeaderMiddleware:
    """Adds ``X-Trialtwin-Virtual-Clock: on`` to every response (pure ASGI, so streaming answers keep working)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode("latin-1"), b"on"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_marked)
