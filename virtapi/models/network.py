"""Interfaces, VXLAN-backed VLANs, IPv4/IPv6 networks and addresses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import netaddr
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from ..values import MAX_VNI
from .base import Base, IdMixin
from .types import IPAddressType, MACAddressType

if TYPE_CHECKING:
    from .compute import Vm
    from .nodes import Node

_BITS = {4: 32, 6: 128}

vlan_member = Table(
    "vlan_member",
    Base.metadata,
    Column(
        "vm_interface_id",
        ForeignKey("vm_interface.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("vlan_id", ForeignKey("vlan.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class VmInterface(IdMixin, Base):
    """A NIC of exactly one VM or one node (the node's own uplinks carry its underlay addresses)."""

    __tablename__ = "vm_interface"
    __table_args__ = (
        CheckConstraint(
            "(vm_id IS NULL AND node_id IS NOT NULL) OR (vm_id IS NOT NULL AND node_id IS NULL)",
            name="exactly_one_owner",
        ),
    )

    mac: Mapped[netaddr.EUI] = mapped_column(MACAddressType, unique=True)
    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int | None] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), index=True
    )
    # Only node interfaces have a free-form name (eno1); a VM interface's name is derived.
    node_ifname: Mapped[str | None] = mapped_column(String(15))
    # What a node's NIC is for (values.PURPOSES); its addresses come from networks of the
    # same purpose. Always NULL for a VM's.
    purpose: Mapped[str | None] = mapped_column(String(16))

    vm: Mapped[Vm | None] = relationship(back_populates="interfaces")
    node: Mapped[Node | None] = relationship(back_populates="interfaces")
    vlans: Mapped[list[Vlan]] = relationship(
        secondary=vlan_member, back_populates="interfaces", order_by="Vlan.vni"
    )
    ipv4_addresses: Mapped[list[Ipv4Address]] = relationship(
        back_populates="interface", order_by="Ipv4Address.address"
    )
    ipv6_addresses: Mapped[list[Ipv6Address]] = relationship(
        back_populates="interface", order_by="Ipv6Address.address"
    )

    @property
    def name(self) -> str:
        if self.vm_id is not None:
            return f"{self.vm_id}-{self.id}"
        return self.node_ifname or f"node{self.node_id}-{self.id}"

    @property
    def bridge(self) -> str | None:
        return f"br-{self.vm_id}-{self.id}" if self.vm_id is not None else None


class Vlan(IdMixin, Base):
    """A layer-2 network carried as a VXLAN; the VNI is the tag."""

    __tablename__ = "vlan"
    __table_args__ = (
        CheckConstraint(f"vni BETWEEN 1 AND {MAX_VNI}", name="vni_range"),
        # A name means one network to its customer; shared (operators') names are unique too.
        UniqueConstraint("customer_id", "name"),
        Index(
            "uq_vlan_shared_name",
            "name",
            unique=True,
            postgresql_where=text("customer_id IS NULL"),
            sqlite_where=text("customer_id IS NULL"),
        ),
    )

    vni: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # NULL: an operator's network; otherwise a customer's private one.
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    description: Mapped[str] = mapped_column(Text, default="")

    interfaces: Mapped[list[VmInterface]] = relationship(
        secondary=vlan_member, back_populates="vlans"
    )


class _NetworkMixin(IdMixin):
    """The columns IPv4 and IPv6 networks share; only the address width differs."""

    ip_version: ClassVar[int]

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            UniqueConstraint("network", "prefixlen"),
            CheckConstraint(
                f"prefixlen BETWEEN 0 AND {_BITS[cls.ip_version]}", name="prefixlen_range"
            ),
            CheckConstraint("network <= last_address", name="network_before_last"),
        )

    @declared_attr
    def network(cls) -> Mapped[netaddr.IPAddress]:
        return mapped_column(IPAddressType(cls.ip_version), nullable=False)

    # Stored so overlap and containment are plain range comparisons in SQL.
    @declared_attr
    def last_address(cls) -> Mapped[netaddr.IPAddress]:
        return mapped_column(IPAddressType(cls.ip_version), nullable=False)

    @declared_attr
    def gateway(cls) -> Mapped[netaddr.IPAddress | None]:
        return mapped_column(IPAddressType(cls.ip_version), nullable=True)

    # Declared here, not as plain mixin columns, to keep the tables' column order.
    @declared_attr
    def vlan_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("vlan.id", ondelete="SET NULL"), index=True, nullable=True)

    @declared_attr
    def prefixlen(cls) -> Mapped[int]:
        return mapped_column(Integer, nullable=False)

    @declared_attr
    def description(cls) -> Mapped[str]:
        return mapped_column(Text, default="", nullable=False)

    # A node network's purpose (values.PURPOSES); NULL: a network for VMs.
    @declared_attr
    def purpose(cls) -> Mapped[str | None]:
        return mapped_column(String(16), nullable=True)

    @declared_attr
    def vlan(cls) -> Mapped[Vlan | None]:
        return relationship(Vlan)

    @property
    def cidr(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(f"{self.network}/{self.prefixlen}")


class Ipv4Network(_NetworkMixin, Base):
    __tablename__ = "ipv4_network"
    ip_version = 4


class Ipv6Network(_NetworkMixin, Base):
    __tablename__ = "ipv6_network"
    ip_version = 6


class _AddressMixin(IdMixin):
    """An address of a network; no interface means free for allocation."""

    ip_version: ClassVar[int]

    @declared_attr
    def address(cls) -> Mapped[netaddr.IPAddress]:
        return mapped_column(IPAddressType(cls.ip_version), unique=True, nullable=False)

    @declared_attr
    def network_id(cls) -> Mapped[int]:
        return mapped_column(
            ForeignKey(f"ipv{cls.ip_version}_network.id", ondelete="RESTRICT"),
            index=True,
            nullable=False,
        )

    @declared_attr
    def vm_interface_id(cls) -> Mapped[int | None]:
        return mapped_column(
            ForeignKey("vm_interface.id", ondelete="SET NULL"), index=True, nullable=True
        )

    @declared_attr
    def network(cls) -> Mapped[Any]:
        return relationship(f"Ipv{cls.ip_version}Network")

    @declared_attr
    def interface(cls) -> Mapped[VmInterface | None]:
        return relationship(VmInterface, back_populates=f"ipv{cls.ip_version}_addresses")


class Ipv4Address(_AddressMixin, Base):
    __tablename__ = "ipv4"
    ip_version = 4


class Ipv6Address(_AddressMixin, Base):
    __tablename__ = "ipv6"
    ip_version = 6


class Ipv6PrefixPool(IdMixin, Base):
    """A larger IPv6 prefix (e.g. a /48) from which VM interfaces get routed /64s."""

    __tablename__ = "ipv6_prefix_pool"
    __table_args__ = (
        UniqueConstraint("network"),
        CheckConstraint("prefixlen BETWEEN 0 AND 64", name="prefixlen_range"),
        CheckConstraint("network <= last_address", name="network_before_last"),
    )

    network: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(6))
    last_address: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(6))
    prefixlen: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")

    @property
    def cidr(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(f"{self.network}/{self.prefixlen}")


class Ipv6RoutedPrefix(IdMixin, Base):
    """A /64 of a pool routed to one VM interface (at most one per interface)."""

    __tablename__ = "ipv6_routed_prefix"

    prefix: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(6), unique=True)
    pool_id: Mapped[int] = mapped_column(
        ForeignKey("ipv6_prefix_pool.id", ondelete="RESTRICT"), index=True
    )
    vm_interface_id: Mapped[int] = mapped_column(
        ForeignKey("vm_interface.id", ondelete="CASCADE"), unique=True
    )

    pool: Mapped[Ipv6PrefixPool] = relationship()
    interface: Mapped[VmInterface] = relationship()

    @property
    def cidr(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(f"{self.prefix}/64")


# The one IP version -> model map.
NETWORK_MODELS: dict[int, type[Ipv4Network | Ipv6Network]] = {4: Ipv4Network, 6: Ipv6Network}
ADDRESS_MODELS: dict[int, type[Ipv4Address | Ipv6Address]] = {4: Ipv4Address, 6: Ipv6Address}
