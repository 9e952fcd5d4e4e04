"""Scheduled backups: operators' backup stores, schedules per VM or disk, and the runs hosts
report (issue 17)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, UTCDateTime, utcnow
from .compute import Vm
from .storage import Storage, StorageType

BACKUP_STORE_KINDS = ("rbd", "path")
BACKUP_RESULTS = ("running", "success", "failed")


def _one_of(column: str, allowed: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in allowed) + ")"


class BackupStore(IdMixin, Base):
    """Where backups go: an RBD pool (target: pool name) or a path on the backup network."""

    __tablename__ = "backup_store"
    __table_args__ = (CheckConstraint(_one_of("kind", BACKUP_STORE_KINDS), name="kind_known"),)

    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(1024))
    description: Mapped[str] = mapped_column(Text, default="")


class BackupSchedule(IdMixin, Base):
    """Back up one VM's disks, or one disk, whenever ``on_calendar`` elapses; keep
    ``retention`` successful backups per disk."""

    __tablename__ = "backup_schedule"
    __table_args__ = (
        CheckConstraint(
            "(vm_id IS NULL AND storage_id IS NOT NULL)"
            " OR (vm_id IS NOT NULL AND storage_id IS NULL)",
            name="exactly_one_subject",
        ),
        CheckConstraint("retention >= 1", name="retention_positive"),
    )

    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="CASCADE"), index=True)
    storage_id: Mapped[int | None] = mapped_column(
        ForeignKey("storage.id", ondelete="CASCADE"), index=True
    )
    store_id: Mapped[int] = mapped_column(
        ForeignKey("backup_store.id", ondelete="RESTRICT"), index=True
    )
    on_calendar: Mapped[str] = mapped_column(String(256))
    retention: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    store: Mapped[BackupStore] = relationship(lazy="joined")
    vm: Mapped[Vm | None] = relationship()
    disk: Mapped[Storage | None] = relationship()


class Backup(IdMixin, Base):
    """One run of a schedule for one disk, as its host reported it. The customer is kept so
    a backup stays the customer's (and restorable) after the VM or disk is gone."""

    __tablename__ = "backup"
    __table_args__ = (
        CheckConstraint(_one_of("result", BACKUP_RESULTS), name="result_known"),
        CheckConstraint("bytes IS NULL OR bytes >= 0", name="bytes_non_negative"),
        CheckConstraint("size > 0", name="size_positive"),
    )

    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("backup_schedule.id", ondelete="SET NULL"), index=True
    )
    store_id: Mapped[int] = mapped_column(
        ForeignKey("backup_store.id", ondelete="RESTRICT"), index=True
    )
    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="SET NULL"), index=True)
    # The disk it was taken of; no foreign key: a backup outlives its disk (and storage
    # points back here for restores).
    storage_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # What a restore needs to create the new disk.
    storage_type_id: Mapped[int] = mapped_column(ForeignKey("storage_type.id", ondelete="RESTRICT"))
    size: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")

    store: Mapped[BackupStore] = relationship(lazy="joined")
    storage_type: Mapped[StorageType] = relationship(lazy="joined")


class DiskRestore(Base):
    """A new disk the host fills from a backup when it creates it (restore)."""

    __tablename__ = "disk_restore"

    storage_id: Mapped[int] = mapped_column(
        ForeignKey("storage.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    backup_id: Mapped[int] = mapped_column(ForeignKey("backup.id", ondelete="RESTRICT"), index=True)

    backup: Mapped[Backup] = relationship(lazy="joined")
