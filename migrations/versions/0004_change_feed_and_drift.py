"""closing the loop: affected certnames per change, the change feed, applied documents

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change") as batch:
        batch.add_column(sa.Column("affected", sa.JSON(), nullable=True))
    with op.batch_alter_table("data_version") as batch:
        batch.add_column(
            sa.Column("retained_from", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "change_node",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("certname", sa.String(length=253), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", "certname", name=op.f("pk_change_node")),
    )
    op.create_table(
        "applied_document",
        sa.Column("certname", sa.String(length=253), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("certname", name=op.f("pk_applied_document")),
    )


def downgrade() -> None:
    op.drop_table("applied_document")
    op.drop_table("change_node")
    with op.batch_alter_table("data_version") as batch:
        batch.drop_column("retained_from")
    with op.batch_alter_table("change") as batch:
        batch.drop_column("affected")
