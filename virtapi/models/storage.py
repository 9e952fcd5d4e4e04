"""Disks of VMs with cache options and I/O limits; Ceph pools for distributed storage."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, UTCDateTime, utcnow

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
    ceph_cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("ceph_cluster.id", ondelete="RESTRICT"), index=True
    )


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
    # A copy-on-write clone of this golden image; NULL: a blank disk.
    base_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("base_image.id", ondelete="RESTRICT"), index=True
    )

    vm: Mapped[Vm] = relationship(back_populates="disks")
    storage_type: Mapped[StorageType] = relationship(lazy="joined")
    cache_option: Mapped[CacheOption] = relationship(lazy="joined")
    ceph: Mapped[StorageCeph | None] = relationship(
        back_populates="storage", uselist=False, passive_deletes=True
    )
    snapshots: Mapped[list[Snapshot]] = relationship(
        back_populates="disk", order_by="Snapshot.id", passive_deletes=True
    )
    base_image: Mapped[BaseImage | None] = relationship(lazy="joined")


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


SNAPSHOT_STATES = ("pending", "present", "failed", "deleted")
SNAPSHOT_REQUESTS = ("present", "deleted")


class Snapshot(IdMixin, Base):
    """A point-in-time copy of one disk, made by its hypervisor.

    ``requested_state`` is what people asked for (present, or deleted: waiting for the host to
    remove it); ``state`` is what the host last reported. The row goes away when the host
    reports a requested deletion done. ``rollback`` asks the host to roll the disk back to it.
    """

    __tablename__ = "snapshot"
    __table_args__ = (
        UniqueConstraint("storage_id", "name"),
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in SNAPSHOT_STATES) + ")",
            name="state_known",
        ),
        CheckConstraint(
            "requested_state IN (" + ", ".join(f"'{s}'" for s in SNAPSHOT_REQUESTS) + ")",
            name="requested_state_known",
        ),
    )

    storage_id: Mapped[int] = mapped_column(
        ForeignKey("storage.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    requested_state: Mapped[str] = mapped_column(String(16), default="present")
    state: Mapped[str] = mapped_column(String(16), default="pending")
    rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    disk: Mapped[Storage] = relationship(back_populates="snapshots")


class BaseImage(IdMixin, Base):
    """A golden image an operator provides per storage type; disks are copy-on-write clones
    of it (ceph: RBD clone of a protected snapshot; qcow2: backing file; lvm: thin snapshot).
    """

    __tablename__ = "base_image"
    __table_args__ = (CheckConstraint("size > 0", name="size_positive"),)

    name: Mapped[str] = mapped_column(String(64), unique=True)
    storage_type_id: Mapped[int] = mapped_column(
        ForeignKey("storage_type.id", ondelete="RESTRICT"), index=True
    )
    # Ceph images live in a pool; local ones on every hypervisor holding a clone.
    ceph_pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("ceph_pool.id", ondelete="RESTRICT"), index=True
    )
    size: Mapped[int] = mapped_column(BigInteger)  # bytes; clones are at least this big
    source_url: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")

    storage_type: Mapped[StorageType] = relationship(lazy="joined")
    ceph_pool: Mapped[CephPool | None] = relationship(lazy="joined")
