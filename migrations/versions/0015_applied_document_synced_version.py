"""applied_document.synced_version: drift computed in SQL

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows stay NULL: drifted until the host reports again (at most one run).
    op.add_column("applied_document", sa.Column("synced_version", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # applied_document has a natural key (certname), no autoincrement to keep.
    with op.batch_alter_table("applied_document") as batch:
        batch.drop_column("synced_version")
