"""Accounts: ``users.must_change_password``, set when an administrator resets a user's password and cleared when
the user chooses their own (the password the administrator passed on out of band is then used once; ASVS 5.0
6.4.1/6.4.2, 21 CFR 11.300(b)). Existing accounts are ``false``.

Revision ID: 0005_password_change
Revises: 0004_irt
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_password_change"
down_revision: str | None = "0004_irt"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    raise NotImplementedError("account records are not dropped: trial records are never deleted")
