"""Settings of the web service (pydantic), from arguments or ``TRIALTWIN_*`` environment variables.

Session limits are capped at the requirement's maxima: idle ≤ 30 minutes, absolute ≤ 12 hours
(ASVS 7.3.1/7.3.2; trial-system-requirements G16). ``secure`` (behind TLS) turns on the ``Secure`` cookie
flag, the ``__Host-`` cookie prefix and HSTS (ASVS 3.3.1, 3.4.1; G15).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DB_URL = "sqlite:///trialtwin.db"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db_url: str = DEFAULT_DB_URL
    secure: bool = False
    idle_timeout_minutes: int = Field(default=30, ge=1, le=30)
    absolute_timeout_hours: int = Field(default=12, ge=1, le=12)
    token_lifetime_hours: int = Field(default=12, ge=1, le=24 * 30)
    pool_size: int = Field(default=16, ge=1, le=256)

    @property
    def cookie_name(self) -> str:
        """``__Host-tt_session`` behind TLS (the browser then insists on Secure, Path=/ and no Domain), else
        ``tt_session``."""
        return "__Host-tt_session" if self.secure else "tt_session"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``TRIALTWIN_DB_URL`` and ``TRIALTWIN_SECURE`` (``1``/``true``), then ``overrides``."""
        values: dict[str, object] = {}
        if os.environ.get("TRIALTWIN_DB_URL"):
            values["db_url"] = os.environ["TRIALTWIN_DB_URL"]
        if os.environ.get("TRIALTWIN_SECURE"):
            values["secure"] = os.environ["TRIALTWIN_SECURE"].strip().lower() in ("1", "true", "yes", "on")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
