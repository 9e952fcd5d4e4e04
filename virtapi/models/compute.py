"""Virtual machines, their states and per-customer limits."""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, UTCDateTime, utcnow
from .nodes import NodeMethod

if TYPE_CHECKING:
    from .network import VmInterface
    from .provisioning import Install
    from .storage import Storage


class VmState(IdMixin, Base):
    """Shared vocabulary of requested and actual VM states."""

    __tablename__ = "vm_state"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Vm(IdMixin, Base):
    """A customer's instance: requested state is what people asked for, actual what hosts said."""

    __tablename__ = "vm"
    __table_args__ = (
        CheckConstraint("cores > 0", name="cores_positive"),
        CheckConstraint("ram > 0", name="ram_positive"),
        CheckConstraint("customer_id > 0", name="customer_id_positive"),
        CheckConstraint(
            "cputime_limit IS NULL OR cputime_limit > 0", name="cputime_limit_positive"
        ),
    )

    uuid: Mapped[uuidlib.UUID] = mapped_column(Uuid, unique=True, default=uuidlib.uuid4)
    # The VM's certname / minion id, hence unique across customers.
    hostname: Mapped[str] = mapped_column(String(253), unique=True)
    cores: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(BigInteger)  # bytes
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # CPU quota in percent of one core (libvirt cputune quota / systemd CPUQuota); NULL = none.
    cputime_limit: Mapped[int | None] = mapped_column(Integer)
    # Empty until placed on a hypervisor; names hypervisor and virtualisation method at once.
    node_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("node_method.id", ondelete="RESTRICT"), index=True
    )
    requested_state_id: Mapped[int] = mapped_column(ForeignKey("vm_state.id", ondelete="RESTRICT"))
    actual_state_id: Mapped[int] = mapped_column(ForeignKey("vm_state.id", ondelete="RESTRICT"))
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    node_method: Mapped[NodeMethod | None] = relationship(back_populates="vms")
    requested_state: Mapped[VmState] = relationship(foreign_keys=[requested_state_id])
    actual_state: Mapped[VmState] = relationship(foreign_keys=[actual_state_id])
    interfaces: Mapped[list[VmInterface]] = relationship(
        back_populates="vm", order_by="VmInterface.id", passive_deletes=True
    )
    disks: Mapped[list[Storage]] = relationship(
        back_populates="vm", order_by="Storage.id", passive_deletes=True
    )
    # Newest first: installs[0] is the one the API shows; read-only (Install.vm writes).
    installs: Mapped[list[Install]] = relationship(viewonly=True, order_by="Install.id.desc()")


class CustomerQuota(Base):
    """Ceilings an operator sets for one customer; NULL means no limit."""

    __tablename__ = "customer_quota"
    __table_args__ = (
        CheckConstraint("customer_id > 0", name="customer_id_positive"),
        CheckConstraint("max_vms IS NULL OR max_vms >= 0", name="max_vms_non_negative"),
        CheckConstraint("max_cores IS NULL OR max_cores >= 0", name="max_cores_non_negative"),
        CheckConstraint("max_ram IS NULL OR max_ram >= 0", name="max_ram_non_negative"),
        CheckConstraint("max_disk IS NULL OR max_disk >= 0", name="max_disk_non_negative"),
        CheckConstraint(
            "max_snapshots IS NULL OR max_snapshots >= 0", name="max_snapshots_non_negative"
        ),
    )

    customer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    max_vms: Mapped[int | None] = mapped_column(Integer)
    max_cores: Mapped[int | None] = mapped_column(Integer)
    max_ram: Mapped[int | None] = mapped_column(BigInteger)  # bytes, summed over VMs
    max_disk: Mapped[int | None] = mapped_column(BigInteger)  # bytes, summed over disks
    max_snapshots: Mapped[int | None] = mapped_column(Integer)  # snapshots over all disks
