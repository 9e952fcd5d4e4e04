"""host groups, their members, and configuration data of the global/area/role/node levels

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _create_id_table(name: str, *elements: object) -> None:
    # Ids are never reused on SQLite either (AUTOINCREMENT, as migration 0005 made the others).
    op.create_table(
        name,
        sa.Column("id", ID, autoincrement=True, nullable=False),
        *elements,  # type: ignore[arg-type]
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    _create_id_table(
        "host_group",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["host_group.id"],
            name=op.f("fk_host_group_parent_id_host_group"),
            ondelete="RESTRICT",
        ),
        sa.UniqueConstraint("name", name=op.f("uq_host_group_name")),
    )
    op.create_index(op.f("ix_host_group_parent_id"), "host_group", ["parent_id"])
    _create_id_table(
        "host_group_member",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("node_id", ID, nullable=True),
        sa.Column("vm_id", ID, nullable=True),
        sa.CheckConstraint(
            "(node_id IS NULL) <> (vm_id IS NULL)", name=op.f("ck_host_group_member_node_or_vm")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["host_group.id"],
            name=op.f("fk_host_group_member_group_id_host_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_host_group_member_node_id_node"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_host_group_member_vm_id_vm"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("group_id", "node_id", name=op.f("uq_host_group_member_group_id_node_id")),
        sa.UniqueConstraint("group_id", "vm_id", name=op.f("uq_host_group_member_group_id_vm_id")),
    )
    for column in ("group_id", "node_id", "vm_id"):
        op.create_index(
            op.f(f"ix_host_group_member_{column}"), "host_group_member", [column]
        )
    _create_id_table(
        "config_data",
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=253), nullable=False),
        sa.Column("node_id", ID, nullable=True),
        sa.Column("vm_id", ID, nullable=True),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "level IN ('global', 'area', 'role', 'node')", name=op.f("ck_config_data_level_known")
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_config_data_node_id_node"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_config_data_vm_id_vm"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("level", "target", name=op.f("uq_config_data_level_target")),
    )
    op.create_index(op.f("ix_config_data_node_id"), "config_data", ["node_id"])
    op.create_index(op.f("ix_config_data_vm_id"), "config_data", ["vm_id"])


def downgrade() -> None:
    op.drop_table("config_data")
    op.drop_table("host_group_member")
    op.drop_table("host_group")
