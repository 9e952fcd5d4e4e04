"""Interfaces, VXLAN-backed VLANs, IPv4/IPv6 networks and addresses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import netaddr
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin
from .types import IPAddressType, MACAddressType

if TYPE_CHECKING:
    from .compute import Vm
    from .nodes import Node

MAX_VNI = 2**24 - 1

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
    __table_args__ = (CheckConstraint(f"vni BETWEEN 1 AND {MAX_VNI}", name="vni_range"),)

    vni: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # NULL: an operator's network; otherwise a customer's private one.
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    description: Mapped[str] = mapped_column(Text, default="")

    interfaces: Mapped[list[VmInterface]] = relationship(
        secondary=vlan_member, back_populates="vlans"
    )


class _NetworkMixin(IdMixin):
    prefixlen: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")

    @property
    def cidr(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(f"{self.network}/{self.prefixlen}")


class Ipv4Network(_NetworkMixin, Base):
    __tablename__ = "ipv4_network"
    __table_args__ = (
        UniqueConstraint("network", "prefixlen"),
        CheckConstraint("prefixlen BETWEEN 0 AND 32", name="prefixlen_range"),
        CheckConstraint("network <= last_address", name="network_before_last"),
    )

    network: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(4))
    # Stored so overlap and containment are plain range comparisons in SQL.
    last_address: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(4))
    gateway: Mapped[netaddr.IPAddress | None] = mapped_column(IPAddressType(4))
    vlan_id: Mapped[int | None] = mapped_column(
        ForeignKey("vlan.id", ondelete="SET NULL"), index=True
    )

    vlan: Mapped[Vlan | None] = relationship()


class Ipv6Network(_NetworkMixin, Base):
    __tablename__ = "ipv6_network"
    __table_args__ = (
        UniqueConstraint("network", "prefixlen"),
        CheckConstraint("prefixlen BETWEEN 0 AND 128", name="prefixlen_range"),
        CheckConstraint("network <= last_address", name="network_before_last"),
    )

    network: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(6))
    last_address: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(6))
    gateway: Mapped[netaddr.IPAddress | None] = mapped_column(IPAddressType(6))
    vlan_id: Mapped[int | None] = mapped_column(
        ForeignKey("vlan.id", ondelete="SET NULL"), index=True
    )

    vlan: Mapped[Vlan | None] = relationship()


class Ipv4Address(IdMixin, Base):
    """An address of a network; no interface means free for allocation."""

    __tablename__ = "ipv4"

    address: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(4), unique=True)
    network_id: Mapped[int] = mapped_column(
        ForeignKey("ipv4_network.id", ondelete="RESTRICT"), index=True
    )
    vm_interface_id: Mapped[int | None] = mapped_column(
        ForeignKey("vm_interface.id", ondelete="SET NULL"), index=True
    )

    network: Mapped[Ipv4Network] = relationship()
    interface: Mapped[VmInterface | None] = relationship(back_populates="ipv4_addresses")


class Ipv6Address(IdMixin, Base):
    __tablename__ = "ipv6"

    address: Mapped[netaddr.IPAddress] = mapped_column(IPAddressType(6), unique=True)
    network_id: Mapped[int] = mapped_column(
        ForeignKey("ipv6_network.id", ondelete="RESTRICT"), index=True
    )
    vm_interface_id: Mapped[int | None] = mapped_column(
        ForeignKey("vm_interface.id", ondelete="SET NULL"), index=True
    )

    network: Mapped[Ipv6Network] = relationship()
    interface: Mapped[VmInterface | None] = relationship(back_populates="ipv6_addresses")


# The IPv4/IPv6 table pairs by IP version, for code that treats both the same way.
NETWORK_MODELS: dict[int, type[Ipv4Network] | type[Ipv6Network]] = {4: Ipv4Network, 6: Ipv6Network}
ADDRESS_MODELS: dict[int, type[Ipv4Address] | type[Ipv6Address]] = {4: Ipv4Address, 6: Ipv6Address}
