"""initial schema and lookup rows

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen copies of the lookup vocabulary: a migration must not change when models change.
LOOKUPS: dict[str, list[tuple[str, str]]] = {
    "node_state": [
        ("running", "In service: takes new VMs"),
        ("offline", "Switched off or unreachable"),
        ("repair", "Broken, being repaired"),
        ("maintenance", "Planned work: keeps its VMs, takes no new ones"),
    ],
    "vm_state": [
        ("pending", "Created, not yet reported by its hypervisor"),
        ("running", "Running"),
        ("stopped", "Shut off"),
        ("rebooting", "Restarting (also the way into a reinstall)"),
        ("installing", "Booted into the installer"),
        ("crashed", "Stopped unexpectedly"),
        ("deleted", "To be removed from its hypervisor"),
    ],
    "virt_method": [
        ("kvm", "Full virtualisation with KVM acceleration"),
        ("qemu", "QEMU emulation without KVM"),
        ("systemd-nspawn", "Containers with systemd-nspawn"),
        ("docker", "Docker containers"),
    ],
    "storage_type": [
        ("lvm", "Thin-provisioned logical volume on the hypervisor"),
        ("qcow2", "QCOW2 image file on the hypervisor"),
        ("raw", "Raw image file on the hypervisor"),
        ("ceph", "RBD image in a Ceph pool"),
    ],
    "cache_option": [
        ("default", "Hypervisor default"),
        ("none", "O_DIRECT, no host page cache"),
        ("writethrough", "Host page cache, writes synced"),
        ("writeback", "Host page cache, writes cached"),
        ("directsync", "O_DIRECT and writes synced"),
        ("unsafe", "Ignore flushes: fast, loses data on host crash"),
    ],
}


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'customer') = (customer_id IS NOT NULL)",
            name=op.f("ck_api_token_customer_id_iff_customer"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'operator', 'reader', 'customer')",
            name=op.f("ck_api_token_role_known"),
        ),
        sa.CheckConstraint(
            "customer_id IS NULL OR customer_id > 0", name=op.f("ck_api_token_customer_id_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "cache_option",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_option")),
        sa.UniqueConstraint("name", name=op.f("uq_cache_option_name")),
    )
    op.create_table(
        "ceph_pool",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceph_pool")),
        sa.UniqueConstraint("name", name=op.f("uq_ceph_pool_name")),
    )
    op.create_table(
        "change",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_token_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=160), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change")),
    )
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_change_actor_token_id"), ["actor_token_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_change_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_change_object", ["object_type", "object_id"], unique=False)

    op.create_table(
        "customer_quota",
        sa.Column("customer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("max_vms", sa.Integer(), nullable=True),
        sa.Column("max_cores", sa.Integer(), nullable=True),
        sa.Column("max_ram", sa.BigInteger(), nullable=True),
        sa.Column("max_disk", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("customer_id > 0", name=op.f("ck_customer_quota_customer_id_positive")),
        sa.CheckConstraint(
            "max_cores IS NULL OR max_cores >= 0",
            name=op.f("ck_customer_quota_max_cores_non_negative"),
        ),
        sa.CheckConstraint(
            "max_disk IS NULL OR max_disk >= 0",
            name=op.f("ck_customer_quota_max_disk_non_negative"),
        ),
        sa.CheckConstraint(
            "max_ram IS NULL OR max_ram >= 0", name=op.f("ck_customer_quota_max_ram_non_negative")
        ),
        sa.CheckConstraint(
            "max_vms IS NULL OR max_vms >= 0", name=op.f("ck_customer_quota_max_vms_non_negative")
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_quota")),
    )
    op.create_table(
        "image",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("os", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("checksum", sa.String(length=160), nullable=False),
        sa.Column("partitioning", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image")),
        sa.UniqueConstraint("name", name=op.f("uq_image_name")),
    )
    op.create_table(
        "node_state",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_state")),
        sa.UniqueConstraint("name", name=op.f("uq_node_state_name")),
    )
    op.create_table(
        "storage_type",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_type")),
        sa.UniqueConstraint("name", name=op.f("uq_storage_type_name")),
    )
    op.create_table(
        "virt_method",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virt_method")),
        sa.UniqueConstraint("name", name=op.f("uq_virt_method_name")),
    )
    op.create_table(
        "vlan",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("vni", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint("vni BETWEEN 1 AND 16777215", name=op.f("ck_vlan_vni_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vlan")),
        sa.UniqueConstraint("vni", name=op.f("uq_vlan_vni")),
    )
    with op.batch_alter_table("vlan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vlan_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "vm_state",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_state")),
        sa.UniqueConstraint("name", name=op.f("uq_vm_state_name")),
    )
    op.create_table(
        "ipv4_network",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("network", sa.LargeBinary(length=4), nullable=False),
        sa.Column("last_address", sa.LargeBinary(length=4), nullable=False),
        sa.Column("gateway", sa.LargeBinary(length=4), nullable=True),
        sa.Column("vlan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("prefixlen", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "network <= last_address", name=op.f("ck_ipv4_network_network_before_last")
        ),
        sa.CheckConstraint(
            "prefixlen BETWEEN 0 AND 32", name=op.f("ck_ipv4_network_prefixlen_range")
        ),
        sa.ForeignKeyConstraint(
            ["vlan_id"], ["vlan.id"], name=op.f("fk_ipv4_network_vlan_id_vlan"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipv4_network")),
        sa.UniqueConstraint("network", "prefixlen", name=op.f("uq_ipv4_network_network_prefixlen")),
    )
    with op.batch_alter_table("ipv4_network", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ipv4_network_vlan_id"), ["vlan_id"], unique=False)

    op.create_table(
        "ipv6_network",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("network", sa.LargeBinary(length=16), nullable=False),
        sa.Column("last_address", sa.LargeBinary(length=16), nullable=False),
        sa.Column("gateway", sa.LargeBinary(length=16), nullable=True),
        sa.Column("vlan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("prefixlen", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "network <= last_address", name=op.f("ck_ipv6_network_network_before_last")
        ),
        sa.CheckConstraint(
            "prefixlen BETWEEN 0 AND 128", name=op.f("ck_ipv6_network_prefixlen_range")
        ),
        sa.ForeignKeyConstraint(
            ["vlan_id"], ["vlan.id"], name=op.f("fk_ipv6_network_vlan_id_vlan"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipv6_network")),
        sa.UniqueConstraint("network", "prefixlen", name=op.f("uq_ipv6_network_network_prefixlen")),
    )
    with op.batch_alter_table("ipv6_network", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ipv6_network_vlan_id"), ["vlan_id"], unique=False)

    op.create_table(
        "node",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("fqdn", sa.String(length=253), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=False),
        sa.Column("area", sa.String(length=64), nullable=True),
        sa.Column(
            "node_state_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("puppet_environment", sa.String(length=64), nullable=True),
        sa.Column(
            "reported_state_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_state_id"],
            ["node_state.id"],
            name=op.f("fk_node_node_state_id_node_state"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reported_state_id"],
            ["node_state.id"],
            name=op.f("fk_node_reported_state_id_node_state"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node")),
        sa.UniqueConstraint("fqdn", name=op.f("uq_node_fqdn")),
    )
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_area"), ["area"], unique=False)
        batch_op.create_index(batch_op.f("ix_node_node_state_id"), ["node_state_id"], unique=False)

    op.create_table(
        "ceph_mon_node",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name=op.f("ck_ceph_mon_node_port_range")),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_ceph_mon_node_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceph_mon_node")),
        sa.UniqueConstraint("node_id", name=op.f("uq_ceph_mon_node_node_id")),
    )
    op.create_table(
        "ceph_osd_node",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_ceph_osd_node_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ceph_osd_node")),
        sa.UniqueConstraint("node_id", name=op.f("uq_ceph_osd_node_node_id")),
    )
    op.create_table(
        "virt_node",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("ram", sa.BigInteger(), nullable=False),
        sa.Column("local_storage_gb", sa.BigInteger(), nullable=False),
        sa.Column("vg_name", sa.String(length=64), nullable=True),
        sa.Column("local_storage_path", sa.String(length=255), nullable=True),
        sa.CheckConstraint("cores > 0", name=op.f("ck_virt_node_cores_positive")),
        sa.CheckConstraint(
            "local_storage_gb >= 0", name=op.f("ck_virt_node_local_storage_gb_non_negative")
        ),
        sa.CheckConstraint("ram > 0", name=op.f("ck_virt_node_ram_positive")),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_virt_node_node_id_node"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virt_node")),
        sa.UniqueConstraint("node_id", name=op.f("uq_virt_node_node_id")),
    )
    op.create_table(
        "node_method",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "virt_node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "virt_method_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["virt_method_id"],
            ["virt_method.id"],
            name=op.f("fk_node_method_virt_method_id_virt_method"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["virt_node_id"],
            ["virt_node.id"],
            name=op.f("fk_node_method_virt_node_id_virt_node"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_method")),
        sa.UniqueConstraint(
            "virt_node_id",
            "virt_method_id",
            name=op.f("uq_node_method_virt_node_id_virt_method_id"),
        ),
    )
    with op.batch_alter_table("node_method", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_node_method_virt_method_id"), ["virt_method_id"], unique=False
        )

    op.create_table(
        "vm",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("ram", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("cputime_limit", sa.Integer(), nullable=True),
        sa.Column(
            "node_method_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "requested_state_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "actual_state_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cores > 0", name=op.f("ck_vm_cores_positive")),
        sa.CheckConstraint(
            "cputime_limit IS NULL OR cputime_limit > 0", name=op.f("ck_vm_cputime_limit_positive")
        ),
        sa.CheckConstraint("customer_id > 0", name=op.f("ck_vm_customer_id_positive")),
        sa.CheckConstraint("ram > 0", name=op.f("ck_vm_ram_positive")),
        sa.ForeignKeyConstraint(
            ["actual_state_id"],
            ["vm_state.id"],
            name=op.f("fk_vm_actual_state_id_vm_state"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["node_method_id"],
            ["node_method.id"],
            name=op.f("fk_vm_node_method_id_node_method"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["requested_state_id"],
            ["vm_state.id"],
            name=op.f("fk_vm_requested_state_id_vm_state"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm")),
        sa.UniqueConstraint("hostname", name=op.f("uq_vm_hostname")),
        sa.UniqueConstraint("uuid", name=op.f("uq_vm_uuid")),
    )
    with op.batch_alter_table("vm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vm_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_node_method_id"), ["node_method_id"], unique=False)

    op.create_table(
        "install",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("vm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("image_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("partitioning", sa.Text(), nullable=False),
        sa.Column("ssh_keys", sa.JSON(), nullable=False),
        sa.Column("root_password_hash", sa.String(length=255), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed', 'cancelled')",
            name=op.f("ck_install_state_known"),
        ),
        sa.CheckConstraint(
            "(vm_id IS NULL AND node_id IS NOT NULL) OR (vm_id IS NOT NULL AND node_id IS NULL)",
            name=op.f("ck_install_exactly_one_target"),
        ),
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name=op.f("ck_install_percent_range")),
        sa.ForeignKeyConstraint(
            ["image_id"], ["image.id"], name=op.f("fk_install_image_id_image"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_install_node_id_node"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_install_vm_id_vm"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_install")),
    )
    with op.batch_alter_table("install", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_install_image_id"), ["image_id"], unique=False)
        batch_op.create_index(
            "uq_install_active_node",
            ["node_id"],
            unique=True,
            postgresql_where=sa.text("state IN ('pending', 'running')"),
            sqlite_where=sa.text("state IN ('pending', 'running')"),
        )
        batch_op.create_index(
            "uq_install_active_vm",
            ["vm_id"],
            unique=True,
            postgresql_where=sa.text("state IN ('pending', 'running')"),
            sqlite_where=sa.text("state IN ('pending', 'running')"),
        )

    op.create_table(
        "storage",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("vm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column(
            "storage_type_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "cache_option_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("read_iops_limit", sa.BigInteger(), nullable=True),
        sa.Column("write_iops_limit", sa.BigInteger(), nullable=True),
        sa.Column("read_bps_limit", sa.BigInteger(), nullable=True),
        sa.Column("write_bps_limit", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "read_bps_limit IS NULL OR read_bps_limit > 0",
            name=op.f("ck_storage_read_bps_limit_positive"),
        ),
        sa.CheckConstraint(
            "read_iops_limit IS NULL OR read_iops_limit > 0",
            name=op.f("ck_storage_read_iops_limit_positive"),
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_storage_size_positive")),
        sa.CheckConstraint(
            "write_bps_limit IS NULL OR write_bps_limit > 0",
            name=op.f("ck_storage_write_bps_limit_positive"),
        ),
        sa.CheckConstraint(
            "write_iops_limit IS NULL OR write_iops_limit > 0",
            name=op.f("ck_storage_write_iops_limit_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["cache_option_id"],
            ["cache_option.id"],
            name=op.f("fk_storage_cache_option_id_cache_option"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["storage_type_id"],
            ["storage_type.id"],
            name=op.f("fk_storage_storage_type_id_storage_type"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_storage_vm_id_vm"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage")),
    )
    with op.batch_alter_table("storage", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_storage_type_id"), ["storage_type_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_storage_vm_id"), ["vm_id"], unique=False)

    op.create_table(
        "vm_interface",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("vm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("node_ifname", sa.String(length=15), nullable=True),
        sa.CheckConstraint(
            "(vm_id IS NULL AND node_id IS NOT NULL) OR (vm_id IS NOT NULL AND node_id IS NULL)",
            name=op.f("ck_vm_interface_exactly_one_owner"),
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_vm_interface_node_id_node"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vm_id"], ["vm.id"], name=op.f("fk_vm_interface_vm_id_vm"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_interface")),
        sa.UniqueConstraint("mac", name=op.f("uq_vm_interface_mac")),
    )
    with op.batch_alter_table("vm_interface", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vm_interface_node_id"), ["node_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_interface_vm_id"), ["vm_id"], unique=False)

    op.create_table(
        "ipv4",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("address", sa.LargeBinary(length=4), nullable=False),
        sa.Column(
            "network_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "vm_interface_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["ipv4_network.id"],
            name=op.f("fk_ipv4_network_id_ipv4_network"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_interface_id"],
            ["vm_interface.id"],
            name=op.f("fk_ipv4_vm_interface_id_vm_interface"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipv4")),
        sa.UniqueConstraint("address", name=op.f("uq_ipv4_address")),
    )
    with op.batch_alter_table("ipv4", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ipv4_network_id"), ["network_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ipv4_vm_interface_id"), ["vm_interface_id"], unique=False
        )

    op.create_table(
        "ipv6",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("address", sa.LargeBinary(length=16), nullable=False),
        sa.Column(
            "network_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "vm_interface_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["ipv6_network.id"],
            name=op.f("fk_ipv6_network_id_ipv6_network"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vm_interface_id"],
            ["vm_interface.id"],
            name=op.f("fk_ipv6_vm_interface_id_vm_interface"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ipv6")),
        sa.UniqueConstraint("address", name=op.f("uq_ipv6_address")),
    )
    with op.batch_alter_table("ipv6", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ipv6_network_id"), ["network_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ipv6_vm_interface_id"), ["vm_interface_id"], unique=False
        )

    op.create_table(
        "storage_ceph",
        sa.Column(
            "storage_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "ceph_pool_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("discard", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ceph_pool_id"],
            ["ceph_pool.id"],
            name=op.f("fk_storage_ceph_ceph_pool_id_ceph_pool"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["storage_id"],
            ["storage.id"],
            name=op.f("fk_storage_ceph_storage_id_storage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("storage_id", name=op.f("pk_storage_ceph")),
    )
    with op.batch_alter_table("storage_ceph", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_storage_ceph_ceph_pool_id"), ["ceph_pool_id"], unique=False
        )

    op.create_table(
        "vlan_member",
        sa.Column(
            "vm_interface_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("vlan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["vlan_id"], ["vlan.id"], name=op.f("fk_vlan_member_vlan_id_vlan"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vm_interface_id"],
            ["vm_interface.id"],
            name=op.f("fk_vlan_member_vm_interface_id_vm_interface"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vm_interface_id", "vlan_id", name=op.f("pk_vlan_member")),
    )
    with op.batch_alter_table("vlan_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vlan_member_vlan_id"), ["vlan_id"], unique=False)

    for table, rows in LOOKUPS.items():
        op.bulk_insert(
            sa.table(table, sa.column("name", sa.String), sa.column("description", sa.Text)),
            [{"name": name, "description": description} for name, description in rows],
        )


def downgrade() -> None:
    with op.batch_alter_table("vlan_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vlan_member_vlan_id"))

    op.drop_table("vlan_member")
    with op.batch_alter_table("storage_ceph", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_ceph_ceph_pool_id"))

    op.drop_table("storage_ceph")
    with op.batch_alter_table("ipv6", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ipv6_vm_interface_id"))
        batch_op.drop_index(batch_op.f("ix_ipv6_network_id"))

    op.drop_table("ipv6")
    with op.batch_alter_table("ipv4", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ipv4_vm_interface_id"))
        batch_op.drop_index(batch_op.f("ix_ipv4_network_id"))

    op.drop_table("ipv4")
    with op.batch_alter_table("vm_interface", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vm_interface_vm_id"))
        batch_op.drop_index(batch_op.f("ix_vm_interface_node_id"))

    op.drop_table("vm_interface")
    with op.batch_alter_table("storage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_vm_id"))
        batch_op.drop_index(batch_op.f("ix_storage_storage_type_id"))

    op.drop_table("storage")
    with op.batch_alter_table("install", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_install_active_vm",
            postgresql_where=sa.text("state IN ('pending', 'running')"),
            sqlite_where=sa.text("state IN ('pending', 'running')"),
        )
        batch_op.drop_index(
            "uq_install_active_node",
            postgresql_where=sa.text("state IN ('pending', 'running')"),
            sqlite_where=sa.text("state IN ('pending', 'running')"),
        )
        batch_op.drop_index(batch_op.f("ix_install_image_id"))

    op.drop_table("install")
    with op.batch_alter_table("vm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vm_node_method_id"))
        batch_op.drop_index(batch_op.f("ix_vm_customer_id"))

    op.drop_table("vm")
    with op.batch_alter_table("node_method", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_method_virt_method_id"))

    op.drop_table("node_method")
    op.drop_table("virt_node")
    op.drop_table("ceph_osd_node")
    op.drop_table("ceph_mon_node")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_node_state_id"))
        batch_op.drop_index(batch_op.f("ix_node_area"))

    op.drop_table("node")
    with op.batch_alter_table("ipv6_network", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ipv6_network_vlan_id"))

    op.drop_table("ipv6_network")
    with op.batch_alter_table("ipv4_network", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ipv4_network_vlan_id"))

    op.drop_table("ipv4_network")
    op.drop_table("vm_state")
    with op.batch_alter_table("vlan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vlan_customer_id"))

    op.drop_table("vlan")
    op.drop_table("virt_method")
    op.drop_table("storage_type")
    op.drop_table("node_state")
    op.drop_table("image")
    op.drop_table("customer_quota")
    with op.batch_alter_table("change", schema=None) as batch_op:
        batch_op.drop_index("ix_change_object")
        batch_op.drop_index(batch_op.f("ix_change_customer_id"))
        batch_op.drop_index(batch_op.f("ix_change_at"))
        batch_op.drop_index(batch_op.f("ix_change_actor_token_id"))

    op.drop_table("change")
    op.drop_table("ceph_pool")
    op.drop_table("cache_option")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_customer_id"))

    op.drop_table("api_token")
