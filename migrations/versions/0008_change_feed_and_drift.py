"""closing the loop: affected certnames per change, the change feed, applied documents

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite rebuilds the table on a drop: keep its AUTOINCREMENT (migration 0005).
    with op.batch_alter_table("change", table_kwargs={"sqlite_autoincrement": True}) as batch:
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
    # SQLite rebuilds the table on a drop: keep its AUTOINCREMENT (migration 0005).
    with op.batch_alter_table("change", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("affected")
