"""Errors of the use cases. All are user-facing (``TrialtwinError``): the caller gets one clear sentence."""

from __future__ import annotations

from trialtwin.protocol.errors import TrialtwinError


class ServiceError(TrialtwinError):
    """Base of the use-case errors."""


class WorkflowError(ServiceError):
    """A step was asked out of the allowed order (consent → eligibility → randomize; 21 CFR 11.10(f)) or on a
    subject whose state forbids it. Nothing was written."""


class PermissionDenied(ServiceError):
    """The acting user may not do this (inactive, or no suitable role at the subject's site; 21 CFR 11.10(d),(g))."""


class AlreadyRandomized(WorkflowError):
    """The subject has an allocation already; a subject is never randomized twice (ASVS 2.3.3)."""
