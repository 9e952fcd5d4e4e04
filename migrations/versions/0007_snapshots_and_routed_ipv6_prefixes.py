"""snapshots, snapshot quota, golden images, backups, routed IPv6 prefixes

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-03 07:56:10.494517
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_id_table(name: str, *elements: object, **kwargs: object) -> None:
    # Ids are never reused on SQLite either (AUTOINCREMENT, as migration 0005 made the others).
    op.create_table(name, *elements, sqlite_autoincrement=True, **kwargs)  # type: ignore[arg-type]


def upgrade() -> None:
    _create_id_table(
        "base_image",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "storage_type_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "ceph_pool_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint("size > 0", name=op.f("ck_base_image_size_positive")),
        sa.ForeignKeyConstraint(
            ["ceph_pool_id"],
            ["ceph_pool.id"],
            name=op.f("fk_base_image_ceph_pool_id_ceph_pool"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["storage_type_id"],
            ["storage_type.id"],
            name=op.f("fk_base_image_storage_type_id_storage_type"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_base_image")),
        sa.UniqueConstraint("name", name=op.f("uq_base_image_name")),
    )
    with op.batch_alter_table("base_image", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_base_image_ceph_pool_id"), ["ceph_pool_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_base_image_storage_type_id"), ["storage_type_id"], unique=False
        )

    with op.batch_alter_table(
        "storage", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(
            sa.Column(
                "base_image_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_storage_base_image_id"), ["base_image_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_storage_base_image_id_base_image"),
            "base_image",
            ["base_image_id"],
            ["id"],
            ondelete="RESTRICT",
        )

    _create_id_table(
        "ipv6_prefix_pool",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("network", sa.LargeBinary(length=16), nullable=False),
        sa.Column("last_address", sa.LargeBinary(length=16), nullable=False),
        sa.Column("prefixlen", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "network <= last_address", name=op.f("ck_ipv6_prefix_pool_network_before_last")
        ),
        sa.CheckConstraint(
            "prefixlen BETWEEN 0 AND 64", name=op.f("ck_ipv6_prefix_pool_prefixlen_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipv6_prefix_pool")),
        sa.UniqueConstraint("network", name=op.f("uq_ipv6_prefix_pool_network")),
    )
    _create_id_table(
        "ipv6_routed_prefix",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("prefix", sa.LargeBinary(length=16), nullable=False),
        sa.Column("pool_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "vm_interface_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["ipv6_prefix_pool.id"],
            name=op.f("fk_ipv6_routed_prefix_pool_id_ipv6_prefix_pool"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_interface_id"],
            ["vm_interface.id"],
            name=op.f("fk_ipv6_routed_prefix_vm_interface_id_vm_interface"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipv6_routed_prefix")),
        sa.UniqueConstraint("prefix", name=op.f("uq_ipv6_routed_prefix_prefix")),
        sa.UniqueConstraint("vm_interface_id", name=op.f("uq_ipv6_routed_prefix_vm_interface_id")),
    )
    with op.batch_alter_table("ipv6_routed_prefix", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ipv6_routed_prefix_pool_id"), ["pool_id"], unique=False
        )

    _create_id_table(
        "snapshot",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "storage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("requested_state", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("rollback", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "requested_state IN ('present', 'deleted')",
            name=op.f("ck_snapshot_requested_state_known"),
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'present', 'failed', 'deleted')",
            name=op.f("ck_snapshot_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["storage_id"],
            ["storage.id"],
            name=op.f("fk_snapshot_storage_id_storage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot")),
        sa.UniqueConstraint("storage_id", "name", name=op.f("uq_snapshot_storage_id_name")),
    )
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_snapshot_storage_id"), ["storage_id"], unique=False)

    with op.batch_alter_table("customer_quota", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_snapshots", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_customer_quota_max_snapshots_non_negative"),
            "max_snapshots IS NULL OR max_snapshots >= 0",
        )

    _create_id_table(
        "backup_store",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('rbd', 'path')", name=op.f("ck_backup_store_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_store")),
        sa.UniqueConstraint("name", name=op.f("uq_backup_store_name")),
    )
    _create_id_table(
        "backup_schedule",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("vm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "storage_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("on_calendar", sa.String(length=256), nullable=False),
        sa.Column("retention", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(vm_id IS NULL AND storage_id IS NOT NULL) OR (vm_id IS NOT NULL AND storage_id IS NULL)",
            name=op.f("ck_backup_schedule_exactly_one_subject"),
        ),
        sa.CheckConstraint("retention >= 1", name=op.f("ck_backup_schedule_retention_positive")),
        sa.ForeignKeyConstraint(
            ["storage_id"],
            ["storage.id"],
            name=op.f("fk_backup_schedule_storage_id_storage"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["backup_store.id"],
            name=op.f("fk_backup_schedule_store_id_backup_store"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_backup_schedule_vm_id_vm"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_schedule")),
    )
    with op.batch_alter_table("backup_schedule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backup_schedule_storage_id"), ["storage_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backup_schedule_store_id"), ["store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backup_schedule_vm_id"), ["vm_id"], unique=False)

    _create_id_table(
        "backup",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("storage_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "storage_type_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "result IN ('running', 'success', 'failed')", name=op.f("ck_backup_result_known")
        ),
        sa.CheckConstraint(
            "bytes IS NULL OR bytes >= 0", name=op.f("ck_backup_bytes_non_negative")
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_backup_size_positive")),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["backup_schedule.id"],
            name=op.f("fk_backup_schedule_id_backup_schedule"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["storage_type_id"],
            ["storage_type.id"],
            name=op.f("fk_backup_storage_type_id_storage_type"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["backup_store.id"],
            name=op.f("fk_backup_store_id_backup_store"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_backup_vm_id_vm"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup")),
    )
    with op.batch_alter_table("backup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backup_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backup_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backup_storage_id"), ["storage_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backup_store_id"), ["store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backup_vm_id"), ["vm_id"], unique=False)

    op.create_table(
        "disk_restore",
        sa.Column(
            "storage_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "backup_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            ["backup.id"],
            name=op.f("fk_disk_restore_backup_id_backup"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["storage_id"],
            ["storage.id"],
            name=op.f("fk_disk_restore_storage_id_storage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("storage_id", name=op.f("pk_disk_restore")),
    )
    with op.batch_alter_table("disk_restore", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disk_restore_backup_id"), ["backup_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disk_restore", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disk_restore_backup_id"))

    op.drop_table("disk_restore")
    with op.batch_alter_table("backup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backup_vm_id"))
        batch_op.drop_index(batch_op.f("ix_backup_store_id"))
        batch_op.drop_index(batch_op.f("ix_backup_storage_id"))
        batch_op.drop_index(batch_op.f("ix_backup_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_backup_customer_id"))

    op.drop_table("backup")
    with op.batch_alter_table("backup_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backup_schedule_vm_id"))
        batch_op.drop_index(batch_op.f("ix_backup_schedule_store_id"))
        batch_op.drop_index(batch_op.f("ix_backup_schedule_storage_id"))

    op.drop_table("backup_schedule")
    op.drop_table("backup_store")

    with op.batch_alter_table("customer_quota", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("ck_customer_quota_max_snapshots_non_negative"), type_="check"
        )
        batch_op.drop_column("max_snapshots")

    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshot_storage_id"))

    op.drop_table("snapshot")
    with op.batch_alter_table("ipv6_routed_prefix", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ipv6_routed_prefix_pool_id"))

    op.drop_table("ipv6_routed_prefix")
    op.drop_table("ipv6_prefix_pool")
    with op.batch_alter_table(
        "storage", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_storage_base_image_id_base_image"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_storage_base_image_id"))
        batch_op.drop_column("base_image_id")

    with op.batch_alter_table("base_image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_base_image_storage_type_id"))
        batch_op.drop_index(batch_op.f("ix_base_image_ceph_pool_id"))

    op.drop_table("base_image")
