"""Settings of the web service (pydantic), from arguments or ``TRIALTWIN_*`` environment variables.

Session limits are capped at the requirement's maxima: idle ≤ 30 minutes, absolute ≤ 12 hours
(ASVS 7.3.1/7.3.2; trial-system-requirements G16). ``secure`` (behind TLS) turns on the ``Secure`` cookie
flag, the ``__Host-`` cookie prefix and HSTS (ASVS 3.3.1, 3.4.1; G15).

``virtual_clock`` (``trialtwin serve --virtual-clock``, off by default and never implied) replaces the server clock
by a settable :class:`~trialtwin.web.api.clock.VirtualClock` starting at ``virtual_clock_start``, for
twin replays on scratch databases only (docs/service/clinical.md, "Twin through the live service"); it steps
back only when the replay asks for it explicitly.
"""

from __future__ import annotations

import datetime as dt
import os

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_DB_URL = "sqlite:///trialtwin.db"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: str = DEFAULT_DB_URL
    secure: bool = False
    idle_timeout_minutes: int = Field(default=30, ge=1, le=30)
    absolute_timeout_hours: int = Field(default=12, ge=1, le=12)
    token_lifetime_hours: int = Field(default=12, ge=1, le=24 * 30)
    pool_size: int = Field(default=16, ge=1, le=256)
    virtual_clock: bool = False
    #: Freeze the start-up heap out of the cyclic GC once the app has started (``trialtwin serve`` turns it on;
    #: see trialtwin.services.heap): full collections then no longer stop every request for 60-100 ms.
    freeze_heap: bool = False
    virtual_clock_start: dt.datetime | None = None

    @field_validator("virtual_clock_start")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("virtual_clock_start needs a time zone (UTC), e.g. 2020-01-01T12:00:00Z")
        return value.astimezone(dt.UTC) if value is not None else None

    @property
    def cookie_name(self) -> str:
        """``__Host-tt_session`` behind TLS (the browser then insists on Secure, Path=/ and no Domain), else
        ``tt_session``."""
        return "__Host-tt_session" if self.secure else "tt_session"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``TRIALTWIN_DB_URL``, ``TRIALTWIN_SECURE``, ``TRIALTWIN_VIRTUAL_CLOCK`` and
        ``TRIALTWIN_FREEZE_HEAP`` (``1``/``true``),
        ``TRIALTWIN_VIRTUAL_CLOCK_START`` (ISO time), ``TRIALTWIN_TOKEN_LIFETIME_HOURS`` and ``TRIALTWIN_POOL_SIZE``,
        then ``overrides``."""
        values: dict[str, object] = {}
        if os.environ.get("TRIALTWIN_DB_URL"):
            values["db_url"] = os.environ["TRIALTWIN_DB_URL"]
        for flag, name in (
            ("TRIALTWIN_SECURE", "secure"),
            ("TRIALTWIN_VIRTUAL_CLOCK", "virtual_clock"),
            ("TRIALTWIN_FREEZE_HEAP", "freeze_heap"),
        ):
            if os.environ.get(flag):
                values[name] = os.environ[flag].strip().lower() in ("1", "true", "yes", "on")
        if os.environ.get("TRIALTWIN_VIRTUAL_CLOCK_START"):
            values["virtual_clock_start"] = os.environ["TRIALTWIN_VIRTUAL_CLOCK_START"]
        if os.environ.get("TRIALTWIN_TOKEN_LIFETIME_HOURS"):
            values["token_lifetime_hours"] = os.environ["TRIALTWIN_TOKEN_LIFETIME_HOURS"]
        if os.environ.get("TRIALTWIN_POOL_SIZE"):
            values["pool_size"] = os.environ["TRIALTWIN_POOL_SIZE"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
