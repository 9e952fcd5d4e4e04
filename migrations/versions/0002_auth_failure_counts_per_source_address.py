"""auth failure counts per source address

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failure",
        sa.Column("source", sa.String(length=45), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_auth_failure_failures_non_negative")),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_auth_failure")),
    )


def downgrade() -> None:
    op.drop_table("auth_failure")
