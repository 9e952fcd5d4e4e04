"""node networks with a purpose: node interfaces and IPv4/IPv6 networks

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("vm_interface", "ipv4_network", "ipv6_network")


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no SQLite rebuild of these id tables.
    for table in _TABLES:
        op.add_column(table, sa.Column("purpose", sa.String(length=16), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        # SQLite rebuilds the table on a drop: keep its AUTOINCREMENT (migration 0005).
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.drop_column("purpose")
