"""Clinical use cases: columns the dosing, assessment and event use cases record (visit weight and regimen,
the engine's rule citation and percent on exposure, entered lab values and normal limits, AE details the
dose-modification rules read, lesions too small to measure, disposition detail), and two tables (subject
baselines, survival follow-up contacts) with their no-delete triggers.

Revision ID: 0003_clinical
Revises: 0002_access
Create Date: 2025-01-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003_clinical"
down_revision: str | None = "0002_access"
branch_labels: str | None = None
depends_on: str | None = None

#: Rows of the new tables are never deleted (21 CFR 11.10(e)).
NO_DELETE = ("subject_baselines", "survival_followup")

#: (table, column, type) added; all nullable, so existing rows stay valid.
NEW_COLUMNS: tuple[tuple[str, str, sa.types.TypeEngine[Any]], ...] = (
    ("visits", "weight_kg", sa.Float()),
    ("visits", "regimen", sa.String(length=64)),
    ("visits", "delay_days", sa.Integer()),
    ("exposure", "visit_id", sa.Integer()),
    ("exposure", "regimen", sa.String(length=64)),
    ("exposure", "percent", sa.Float()),
    ("exposure", "source", sa.Text()),
    ("labs", "visit_id", sa.Integer()),
    ("labs", "entered_value", sa.Float()),
    ("labs", "entered_unit", sa.String(length=32)),
    ("labs", "lln", sa.Float()),
    ("labs", "uln", sa.Float()),
    ("adverse_events", "related", sa.Boolean()),
    ("adverse_events", "cycle", sa.Integer()),
    ("adverse_events", "cycle_day", sa.Integer()),
    ("adverse_events", "febrile", sa.Boolean()),
    ("adverse_events", "infection", sa.Boolean()),
    ("adverse_events", "controlled", sa.Boolean()),
    ("adverse_events", "duration_days", sa.Integer()),
    ("adverse_events", "lab_test", sa.String(length=32)),
    ("adverse_events", "lab_value", sa.Float()),
    ("lesions", "too_small", sa.Boolean()),
    ("disposition", "detail", sa.Text()),
)


def _recorded(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f(f"fk_{table}_recorded_by_users")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f(f"fk_{table}_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _create_tables() -> None:
    op.create_table(
        "subject_baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=False),
        sa.Column("height_cm", sa.Float(), nullable=False),
        sa.Column("ecog", sa.Integer(), nullable=False),
        *_recorded("subject_baselines"),
        sa.UniqueConstraint("subject_id", name=op.f("uq_subject_baselines_subject_id")),
    )
    op.create_table(
        "survival_followup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_recorded("survival_followup"),
    )


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in NO_DELETE:
            op.execute(
                f"CREATE TRIGGER trg_{table}_no_delete BEFORE DELETE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}: rows are never deleted'); END"
            )
        return
    for table in NO_DELETE:  # trialtwin_refuse_change() is created by revision 0001
        op.execute(
            f"CREATE TRIGGER trg_{table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION trialtwin_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION trialtwin_refuse_change()"
        )


def upgrade() -> None:
    for table, column, type_ in NEW_COLUMNS:
        op.add_column(table, sa.Column(column, type_, nullable=True))
    _create_tables()
    _create_triggers()


def downgrade() -> None:
    raise NotImplementedError("clinical columns and tables are not dropped: trial records are never deleted")
