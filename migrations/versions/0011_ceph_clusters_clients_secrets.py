"""Ceph clusters and client users; monitors, pools and nodes name a cluster; the secrets scope

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-03

Existing pools and monitors (if any) go into a cluster named ``default`` without fsid, and
every hypervisor and Ceph node into it; set its fsid with PATCH /api/v1/ceph-clusters/<id>.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Id tables rebuilt by SQLite batch mode keep AUTOINCREMENT (migration 0005).
KEEP_ID = {"sqlite_autoincrement": True}


def _cluster_column(batch: Any, table: str) -> None:
    batch.add_column(sa.Column("ceph_cluster_id", ID, nullable=True))
    batch.create_index(batch.f(f"ix_{table}_ceph_cluster_id"), ["ceph_cluster_id"], unique=False)
    batch.create_foreign_key(
        batch.f(f"fk_{table}_ceph_cluster_id_ceph_cluster"),
        "ceph_cluster", ["ceph_cluster_id"], ["id"], ondelete="RESTRICT",
    )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "ceph_cluster",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("fsid", sa.Uuid(), nullable=True),
        sa.Column("public_network", sa.String(length=64), nullable=True),
        sa.Column("cluster_network", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceph_cluster")),
        sa.UniqueConstraint("fsid", name=op.f("uq_ceph_cluster_fsid")),
        sa.UniqueConstraint("name", name=op.f("uq_ceph_cluster_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ceph_client",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("ceph_cluster_id", ID, nullable=False),
        sa.Column("name", sa.String(length=72), nullable=False),
        sa.Column("caps", sa.Text(), nullable=False),
        sa.Column("secret_uuid", sa.Uuid(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("key_encrypted", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ceph_cluster_id"],
            ["ceph_cluster.id"],
            name=op.f("fk_ceph_client_ceph_cluster_id_ceph_cluster"),
            ondelete="RESTRICT",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceph_client")),
        sa.UniqueConstraint(
            "ceph_cluster_id", "name", name=op.f("uq_ceph_client_ceph_cluster_id_name")
        ),
        sa.UniqueConstraint("secret_uuid", name=op.f("uq_ceph_client_secret_uuid")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_ceph_client_default", "ceph_client", ["ceph_cluster_id"], unique=True,
        sqlite_where=sa.text("is_default"), postgresql_where=sa.text("is_default"),
    )  # fmt: skip
    with op.batch_alter_table("api_token", table_kwargs=KEEP_ID) as batch:
        batch.add_column(
            sa.Column("secrets", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_check_constraint(
            op.f("ck_api_token_secrets_not_customer"), "NOT secrets OR role <> 'customer'"
        )
    for table in ("ceph_mon_node", "ceph_pool"):
        with op.batch_alter_table(table, table_kwargs=KEEP_ID) as batch:
            _cluster_column(batch, table)
    with op.batch_alter_table("node", table_kwargs=KEEP_ID) as batch:
        _cluster_column(batch, "node")
        batch.add_column(sa.Column("ceph_client_id", ID, nullable=True))
        batch.create_index(batch.f("ix_node_ceph_client_id"), ["ceph_client_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_node_ceph_client_id_ceph_client"),
            "ceph_client", ["ceph_client_id"], ["id"], ondelete="RESTRICT",
        )  # fmt: skip
    _default_cluster()


def _default_cluster() -> None:
    # Plain statements, so the offline SQL (sql/schema.sql) carries them too; without pools
    # and monitors nothing is inserted and the updates set NULL to NULL.
    op.execute(
        "INSERT INTO ceph_cluster (name, description) SELECT 'default', "
        "'made by migration 0011 for the pools and monitors that existed; set its fsid' "
        "WHERE EXISTS (SELECT 1 FROM ceph_pool) OR EXISTS (SELECT 1 FROM ceph_mon_node)"
    )
    cluster = "(SELECT id FROM ceph_cluster WHERE name = 'default')"
    op.execute(f"UPDATE ceph_pool SET ceph_cluster_id = {cluster}")
    op.execute(f"UPDATE ceph_mon_node SET ceph_cluster_id = {cluster}")
    op.execute(
        f"UPDATE node SET ceph_cluster_id = {cluster} WHERE id IN "
        "(SELECT node_id FROM virt_node UNION SELECT node_id FROM ceph_osd_node "
        "UNION SELECT node_id FROM ceph_mon_node)"
    )


def downgrade() -> None:
    with op.batch_alter_table("node", table_kwargs=KEEP_ID) as batch:
        batch.drop_constraint(batch.f("fk_node_ceph_client_id_ceph_client"), type_="foreignkey")
        batch.drop_constraint(batch.f("fk_node_ceph_cluster_id_ceph_cluster"), type_="foreignkey")
        batch.drop_index(batch.f("ix_node_ceph_cluster_id"))
        batch.drop_index(batch.f("ix_node_ceph_client_id"))
        batch.drop_column("ceph_client_id")
        batch.drop_column("ceph_cluster_id")
    for table in ("ceph_pool", "ceph_mon_node"):
        with op.batch_alter_table(table, table_kwargs=KEEP_ID) as batch:
            batch.drop_constraint(
                batch.f(f"fk_{table}_ceph_cluster_id_ceph_cluster"), type_="foreignkey"
            )
            batch.drop_index(batch.f(f"ix_{table}_ceph_cluster_id"))
            batch.drop_column("ceph_cluster_id")
    with op.batch_alter_table("api_token", table_kwargs=KEEP_ID) as batch:
        batch.drop_constraint(op.f("ck_api_token_secrets_not_customer"), type_="check")
        batch.drop_column("secrets")
    op.drop_index("ix_ceph_client_default", table_name="ceph_client")
    op.drop_table("ceph_client")
    op.drop_table("ceph_cluster")
