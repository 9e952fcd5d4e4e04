"""Configuration data (issue 18): host groups, their members, and the data of the other levels.

Classes (Puppet class name → parameters) and free data (Hiera key → JSON value) sit at five
levels: global, area, role, host group, node. Groups hold theirs on the group row; the other
levels in ``config_data``, one row per level and target. services/config_data.py merges them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin

if TYPE_CHECKING:
    from .compute import Vm
    from .nodes import Node

CONFIG_LEVELS = ("global", "area", "role", "node")


class HostGroup(IdMixin, Base):
    """A group of nodes and VMs in a tree; ``depth`` is 0 for a root (kept on the row so the
    merge can order groups root to leaf without walking the tree)."""

    __tablename__ = "host_group"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("host_group.id", ondelete="RESTRICT"), index=True
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    classes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    parent: Mapped[HostGroup | None] = relationship(remote_side="HostGroup.id")
    members: Mapped[list[HostGroupMember]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="HostGroupMember.id"
    )


class HostGroupMember(IdMixin, Base):
    """A node or a VM in a group (exactly one of them)."""

    __tablename__ = "host_group_member"
    __table_args__ = (
        UniqueConstraint("group_id", "node_id"),
        UniqueConstraint("group_id", "vm_id"),
        CheckConstraint("(node_id IS NULL) <> (vm_id IS NULL)", name="node_or_vm"),
    )

    group_id: Mapped[int] = mapped_column(
        ForeignKey("host_group.id", ondelete="CASCADE"), index=True
    )
    node_id: Mapped[int | None] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), index=True
    )
    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="CASCADE"), index=True)

    group: Mapped[HostGroup] = relationship(back_populates="members")
    node: Mapped[Node | None] = relationship()
    vm: Mapped[Vm | None] = relationship()


class ConfigData(IdMixin, Base):
    """Classes and data of one global, area, role or node level.

    ``target``: '' for global, the area name, the role (hypervisor, ceph_osd, ceph_mon, vm), or
    ``node:<id>`` / ``vm:<id>`` for one machine (then node_id or vm_id is set too, so the row
    goes with the machine).
    """

    __tablename__ = "config_data"
    __table_args__ = (
        UniqueConstraint("level", "target"),
        CheckConstraint(
            "level IN (" + ", ".join(f"'{level}'" for level in CONFIG_LEVELS) + ")",
            name="level_known",
        ),
    )

    level: Mapped[str] = mapped_column(String(8))
    target: Mapped[str] = mapped_column(String(253), default="")
    node_id: Mapped[int | None] = mapped_column(
        ForeignKey("node.id", ondelete="CASCADE"), index=True
    )
    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="CASCADE"), index=True)
    classes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    node: Mapped[Node | None] = relationship()
    vm: Mapped[Vm | None] = relationship()
