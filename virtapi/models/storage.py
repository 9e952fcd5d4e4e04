"""Disks of VMs with cache options and I/O limits; Ceph pools for distributed storage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin

if TYPE_CHECKING:
    from .compute import Vm

LIMIT_COLUMNS = ("read_iops_limit", "write_iops_limit", "read_bps_limit", "write_bps_limit")


class StorageType(IdMixin, Base):
    """lvm, qcow2, raw (local to the hypervisor) and ceph (distributed)."""

    __tablename__ = "storage_type"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class CacheOption(IdMixin, Base):
    """libvirt disk cache modes."""

    __tablename__ = "cache_option"

    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class CephPool(IdMixin, Base):
    __tablename__ = "ceph_pool"

    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Storage(IdMixin, Base):
    """One disk, bound to exactly one VM."""

    __tablename__ = "storage"
    __table_args__ = (
        CheckConstraint("size > 0", name="size_positive"),
        *(CheckConstraint(f"{c} IS NULL OR {c} > 0", name=f"{c}_positive") for c in LIMIT_COLUMNS),
    )

    vm_id: Mapped[int] = mapped_column(ForeignKey("vm.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)  # bytes
    storage_type_id: Mapped[int] = mapped_column(
        ForeignKey("storage_type.id", ondelete="RESTRICT"), index=True
    )
    cache_option_id: Mapped[int] = mapped_column(ForeignKey("cache_option.id", ondelete="RESTRICT"))
    read_iops_limit: Mapped[int | None] = mapped_column(BigInteger)
    write_iops_limit: Mapped[int | None] = mapped_column(BigInteger)
    read_bps_limit: Mapped[int | None] = mapped_column(BigInteger)  # bytes per second
    write_bps_limit: Mapped[int | None] = mapped_column(BigInteger)

    vm: Mapped[Vm] = relationship(back_populates="disks")
    storage_type: Mapped[StorageType] = relationship(lazy="joined")
    cache_option: Mapped[CacheOption] = relationship(lazy="joined")
    ceph: Mapped[StorageCeph | None] = relationship(
        back_populates="storage", uselist=False, passive_deletes=True
    )


class StorageCeph(Base):
    """Ceph-specific attributes; shares the storage row's id by a real foreign key."""

    __tablename__ = "storage_ceph"

    storage_id: Mapped[int] = mapped_column(
        ForeignKey("storage.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    ceph_pool_id: Mapped[int] = mapped_column(
        ForeignKey("ceph_pool.id", ondelete="RESTRICT"), index=True
    )
    discard: Mapped[bool] = mapped_column(Boolean, default=True)

    storage: Mapped[Storage] = relationship(back_populates="ceph")
    ceph_pool: Mapped[CephPool] = relationship(lazy="joined")
