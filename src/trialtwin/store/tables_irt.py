"""IRT tables (trial-system-requirements E5, E7, E9, D3): the recorded randomization list hash, invalidations of
mistaken randomizations, reconciled manual (emergency list) allocations, and site activations. Migration
``0004_irt``.

Like every table of the service, rows are never deleted (database triggers); an invalidation or a
reconciliation is a new row next to the ledger entry it concerns, which itself never changes (E7).

The ledger's ``source`` column (``irt`` or ``manual``) is given when the ledger row is made
(``store.ledger.allocate_next(source=)``), so the row and its audited create say "manual" from the start (the
ledger refuses any later UPDATE).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trialtwin.store.tables import Base

#: ``LedgerEntry.source`` values.
SOURCE_IRT = "irt"
SOURCE_MANUAL = "manual"


class RandomizationListRecord(Base):
    """The study's randomization list as generated when the study was loaded: its canonical-form SHA-256,
    schema tag, entries per stratum and number of strata (the list itself is derived from the sealed seed
    and never stored or shown; E2/E5)."""

    __tablename__ = "randomization_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"), unique=True)
    schema: Mapped[str] = mapped_column(String(64))
    n_per_stratum: Mapped[int] = mapped_column(Integer)
    n_strata: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[dt.datetime]
    generated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class RandomizationInvalidation(Base):
    """A mistaken randomization, invalidated with a reason (E7). The ledger entry is unchanged and the
    subject stays in the intention-to-treat population; one invalidation per allocation."""

    __tablename__ = "randomization_invalidations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("randomization_ledger.id"), unique=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    reason: Mapped[str] = mapped_column(Text)
    invalidated_at: Mapped[dt.datetime]
    invalidated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ManualAllocation(Base):
    """An allocation a site made from the sealed emergency list while the IRT was down, reconciled later
    (E9): the envelope's reference, the arm the site gave and when (as the site reports it)."""

    __tablename__ = "manual_allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("randomization_ledger.id"), unique=True)
    emergency_ref: Mapped[str] = mapped_column(String(200))
    arm: Mapped[str] = mapped_column(String(64))
    allocated_at: Mapped[dt.datetime]
    reconciled_at: Mapped[dt.datetime]
    reconciled_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class SiteActivation(Base):
    """A site activated for the study after its approvals (D3; ICH E6(R3) 4.3.5): the approval reference
    (e.g. the ethics committee's approval number), the approval date, who activated it and when. The sites
    a protocol lists are active from loading (they are the approved sites the protocol was loaded with) and
    have no row here; a site added later is inactive until activated."""

    __tablename__ = "site_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    approval_ref: Mapped[str] = mapped_column(String(200))
    approved_on: Mapped[dt.date] = mapped_column(Date)
    activated_at: Mapped[dt.datetime]
    activated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
