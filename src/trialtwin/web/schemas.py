"""Request and response bodies of the JSON API (pydantic). Requests forbid unknown fields, so a typo is a 422
naming the field instead of being ignored."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Characters no text field accepts: NUL cannot be stored in a PostgreSQL text column (and is never meaningful
#: clinical text), so it is refused at the edge on every database alike, naming the field.
FORBIDDEN_CHARACTERS = "\x00"


def forbidden_character_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string in ``value`` (JSON data) holding a :data:`FORBIDDEN_CHARACTERS`
    character, or ``None``."""
    if isinstance(value, str):
        return path if any(c in value for c in FORBIDDEN_CHARACTERS) else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = forbidden_character_path(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class Request(BaseModel):
    """Base of every JSON request body: unknown fields are refused, and so is a NUL character in any string."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_forbidden_characters(cls, data: Any) -> Any:
        where = forbidden_character_path(data)
        if where is not None:
            raise ValueError(f"field {where!r} contains a NUL character, which no text field accepts")
        return data


class TokenRequest(Request):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
    study_id: str = Field(min_length=1, max_length=64)


class LoginRequest(Request):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    csrf_token: str
    expires_at: dt.datetime
    username: str
    display_name: str


class TokenOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: dt.datetime
    study_id: str


class MeOut(BaseModel):
    user_id: int
    username: str
    display_name: str
    roles: list[tuple[str, str | None]]
    via: str
    study_id: str | None
    csrf_token: str | None
    must_change_password: bool = False


class Health(BaseModel):
    status: Literal["ok"]


class StudyOut(BaseModel):
    id: str
    nct_id: str
    title: str
    protocol_sha256: str
    loaded_at: dt.datetime


class SiteOut(BaseModel):
    code: str
    facility: str
    city: str
    country: str
    active: bool


class SubjectOut(BaseModel):
    study_id: str
    screening_id: str
    site: str
    status: str
    subject_number: str | None
    registered_at: dt.datetime


class RegisterRequest(Request):
    site: str = Field(min_length=1, max_length=64, description="site code, e.g. CN-001")


class ConsentRequest(Request):
    consent_date: dt.date
    form_version: str = Field(default="1.0", min_length=1, max_length=64)


class EligibilityRequest(Request):
    facts: dict[str, Any]
    reason: str | None = Field(default=None, max_length=2000, description="required for a correction")


class PreviewRequest(Request):
    facts: dict[str, Any]


class EligibilityOut(BaseModel):
    study_id: str
    screening_id: str | None = None
    facts_version: int | None = None
    status: str
    criteria: list[dict[str, Any]]
    strata: dict[str, str | None]
    missing_facts: list[str]


class RandomizationOut(BaseModel):
    study_id: str
    screening_id: str
    subject_number: str
    arm: str
    stratum: str
    levels: dict[str, str]
    sequence: int
    stratum_sequence: int
    randomized_at: dt.datetime


class AuditEntryOut(BaseModel):
    seq: int
    at: dt.datetime
    user_id: int
    user_name: str | None = None  # display name of user_id (added; older clients ignore it)
    action: str
    table: str
    record_id: str
    fields: list[str]
    old: Any
    new: Any
    reason: str | None
    hash: str
    #: a later redaction masks a value of this entry (it reads "[redacted]"; the stored entry is unchanged)
    redacted: bool = False


class SignRequest(Request):
    meaning: Literal["authorship", "review", "approval"]
    password: str = Field(min_length=1, max_length=1024)
    username: str | None = Field(
        default=None, max_length=150, description="required at the first signing of a session (21 CFR 11.200)"
    )
    scope: Literal["casebook", "visit"] = "casebook"
    visit_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class SignatureOut(BaseModel):
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
    status: Literal["valid", "broken"]
    manifestation: str
