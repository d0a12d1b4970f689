"""IRT: the ledger's ``source`` column (``irt`` or ``manual``; existing rows are ``irt``), and four tables with
their no-delete / no-update triggers: the randomization list hash recorded at generation (E5), invalidations
of mistaken randomizations (E7), reconciled manual allocations from the emergency list (E9) and site
activations (D3). See ``trialtwin.store.tables_irt``.

Revision ID: 0004_irt
Revises: 0003_clinical
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_irt"
down_revision: str | None = "0003_clinical"
branch_labels: str | None = None
depends_on: str | None = None

#: Rows of the new tables are never deleted, nor changed (21 CFR 11.10(e); E7).
NEW_TABLES = ("randomization_lists", "randomization_invalidations", "manual_allocations", "site_activations")


def _fk(table: str, column: str, target: str, key: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.{key}"], name=op.f(f"fk_{table}_{column}_{target}"))


def _create_tables() -> None:
    op.create_table(
        "randomization_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.String(length=64), nullable=False),
        sa.Column("schema", sa.String(length=64), nullable=False),
        sa.Column("n_per_stratum", sa.Integer(), nullable=False),
        sa.Column("n_strata", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generated_by", sa.Integer(), nullable=False),
        _fk("randomization_lists", "study_id", "studies"),
        _fk("randomization_lists", "generated_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_randomization_lists")),
        sa.UniqueConstraint("study_id", name=op.f("uq_randomization_lists_study_id")),
    )
    op.create_table(
        "randomization_invalidations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invalidated_by", sa.Integer(), nullable=False),
        _fk("randomization_invalidations", "ledger_id", "randomization_ledger"),
        _fk("randomization_invalidations", "subject_id", "subjects"),
        _fk("randomization_invalidations", "invalidated_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_randomization_invalidations")),
        sa.UniqueConstraint("ledger_id", name=op.f("uq_randomization_invalidations_ledger_id")),
    )
    op.create_table(
        "manual_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ledger_id", sa.Integer(), nullable=False),
        sa.Column("emergency_ref", sa.String(length=200), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("allocated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconciled_by", sa.Integer(), nullable=False),
        _fk("manual_allocations", "ledger_id", "randomization_ledger"),
        _fk("manual_allocations", "reconciled_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_allocations")),
        sa.UniqueConstraint("ledger_id", name=op.f("uq_manual_allocations_ledger_id")),
    )

    op.create_table(
        "site_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("approval_ref", sa.String(length=200), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_by", sa.Integer(), nullable=False),
        _fk("site_activations", "site_id", "sites"),
        _fk("site_activations", "activated_by", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_activations")),
    )
    op.create_index(op.f("ix_site_activations_site_id"), "site_activations", ["site_id"], unique=False)


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in NEW_TABLES:
            op.execute(
                f"CREATE TRIGGER trg_{table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}: rows are never deleted'); END"
            )
            op.execute(
                f"CREATE TRIGGER trg_{table}_no_update BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}: rows are never changed'); END"
            )
        return
    for table in NEW_TABLES:  # trialtwin_refuse_change() is created by revision 0001
        for when, each in (("DELETE", "ROW"), ("UPDATE", "ROW"), ("TRUNCATE", "STATEMENT")):
            op.execute(
                f"CREATE TRIGGER trg_{table}_no_{when.lower()} BEFORE {when} ON {table} "
                f"FOR EACH {each} EXECUTE FUNCTION trialtwin_refuse_change()"
            )


def upgrade() -> None:
    # Not null with a server default: existing allocations were all made by the service. Adding a column
    # fires no row trigger, so the ledger's no-update trigger does not object (SQLite or PostgreSQL).
    op.add_column(
        "randomization_ledger", sa.Column("source", sa.String(length=16), server_default="irt", nullable=False)
    )
    _create_tables()
    _create_triggers()


def downgrade() -> None:
    raise NotImplementedError("IRT records are not dropped: trial records are never deleted")
