"""Physical nodes and the roles they play: hypervisor, Ceph OSD, Ceph monitor."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from .ceph import CephClient, CephCluster
    from .compute import Vm
    from .network import VmInterface


class NodeState(IdMixin, Base):
    """running, offline, repair, maintenance: whether a node may take work."""

    __tablename__ = "node_state"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Node(IdMixin, Base):
    """A physical server. Roles hang off it in their own tables, each at most once."""

    __tablename__ = "node"

    fqdn: Mapped[str] = mapped_column(String(253), unique=True)
    location: Mapped[str] = mapped_column(String(255), default="")
    # Failover domain: placement can spread a customer's VMs over areas.
    area: Mapped[str | None] = mapped_column(String(64), index=True)
    node_state_id: Mapped[int] = mapped_column(
        ForeignKey("node_state.id", ondelete="RESTRICT"), index=True
    )
    puppet_environment: Mapped[str | None] = mapped_column(String(64))
    # What the host itself last said (heartbeat), kept apart from what operators set.
    reported_state_id: Mapped[int | None] = mapped_column(
        ForeignKey("node_state.id", ondelete="RESTRICT")
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The Ceph cluster and cephx user this node's RBD disks and ceph.conf use (a monitor
    # defaults to its monitor's cluster, the client to the cluster's default client).
    ceph_cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("ceph_cluster.id", ondelete="RESTRICT"), index=True
    )
    ceph_client_id: Mapped[int | None] = mapped_column(
        ForeignKey("ceph_client.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    state: Mapped[NodeState] = relationship(foreign_keys=[node_state_id], lazy="joined")
    reported_state: Mapped[NodeState | None] = relationship(foreign_keys=[reported_state_id])
    ceph_cluster: Mapped[CephCluster | None] = relationship(foreign_keys=[ceph_cluster_id])
    ceph_client: Mapped[CephClient | None] = relationship(foreign_keys=[ceph_client_id])
    virt_node: Mapped[VirtNode | None] = relationship(back_populates="node", uselist=False)
    ceph_osd_node: Mapped[CephOsdNode | None] = relationship(back_populates="node", uselist=False)
    ceph_mon_node: Mapped[CephMonNode | None] = relationship(back_populates="node", uselist=False)
    interfaces: Mapped[list[VmInterface]] = relationship(
        back_populates="node", order_by="VmInterface.id", passive_deletes=True
    )

    @property
    def roles(self) -> list[str]:
        roles = []
        if self.virt_node is not None:
            roles.append("hypervisor")
        if self.ceph_osd_node is not None:
            roles.append("ceph_osd")
        if self.ceph_mon_node is not None:
            roles.append("ceph_mon")
        return roles


class VirtMethod(IdMixin, Base):
    """kvm, qemu, systemd-nspawn, docker …"""

    __tablename__ = "virt_method"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class VirtNode(IdMixin, Base):
    """The hypervisor role: capacity for VMs."""

    __tablename__ = "virt_node"
    __table_args__ = (
        CheckConstraint("local_storage_gb >= 0", name="local_storage_gb_non_negative"),
        CheckConstraint("cores > 0", name="cores_positive"),
        CheckConstraint("ram > 0", name="ram_positive"),
    )

    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), unique=True)
    cores: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(BigInteger)  # bytes
    local_storage_gb: Mapped[int] = mapped_column(BigInteger, default=0)
    vg_name: Mapped[str | None] = mapped_column(String(64))  # thin LVM
    local_storage_path: Mapped[str | None] = mapped_column(String(255))  # raw/qcow2 files

    node: Mapped[Node] = relationship(back_populates="virt_node")
    methods: Mapped[list[NodeMethod]] = relationship(
        back_populates="virt_node", order_by="NodeMethod.id", passive_deletes=True
    )


class NodeMethod(IdMixin, Base):
    """What a hypervisor can run; a placed VM points here, so node and method stay consistent."""

    __tablename__ = "node_method"
    __table_args__ = (UniqueConstraint("virt_node_id", "virt_method_id"),)

    virt_node_id: Mapped[int] = mapped_column(ForeignKey("virt_node.id", ondelete="CASCADE"))
    virt_method_id: Mapped[int] = mapped_column(
        ForeignKey("virt_method.id", ondelete="RESTRICT"), index=True
    )

    virt_node: Mapped[VirtNode] = relationship(back_populates="methods")
    virt_method: Mapped[VirtMethod] = relationship(lazy="joined")
    vms: Mapped[list[Vm]] = relationship(back_populates="node_method")


class CephOsdNode(IdMixin, Base):
    __tablename__ = "ceph_osd_node"

    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), unique=True)

    node: Mapped[Node] = relationship(back_populates="ceph_osd_node")


class CephMonNode(IdMixin, Base):
    __tablename__ = "ceph_mon_node"
    __table_args__ = (CheckConstraint("port BETWEEN 1 AND 65535", name="port_range"),)

    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), unique=True)
    port: Mapped[int] = mapped_column(Integer, default=6789)
    ceph_cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("ceph_cluster.id", ondelete="RESTRICT"), index=True
    )

    node: Mapped[Node] = relationship(back_populates="ceph_mon_node")
