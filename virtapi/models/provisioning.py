"""The installimage image catalog and one-shot network installs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, UTCDateTime, utcnow

if TYPE_CHECKING:
    from .compute import Vm
    from .nodes import Node

INSTALL_STATES = ("pending", "running", "done", "failed", "cancelled")
_ACTIVE = "state IN ('pending', 'running')"


class Image(IdMixin, Base):
    __tablename__ = "image"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    os: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(1024))
    checksum: Mapped[str] = mapped_column(String(160), default="")
    partitioning: Mapped[str] = mapped_column(Text, default="")


class Install(IdMixin, Base):
    """One requested installation of a VM or a node; at most one active per machine."""

    __tablename__ = "install"
    __table_args__ = (
        CheckConstraint(
            "(vm_id IS NULL AND node_id IS NOT NULL) OR (vm_id IS NOT NULL AND node_id IS NULL)",
            name="exactly_one_target",
        ),
        CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed', 'cancelled')", name="state_known"
        ),
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),
        Index(
            "uq_install_active_vm",
            "vm_id",
            unique=True,
            postgresql_where=text(_ACTIVE),
            sqlite_where=text(_ACTIVE),
        ),
        Index(
            "uq_install_active_node",
            "node_id",
            unique=True,
            postgresql_where=text(_ACTIVE),
            sqlite_where=text(_ACTIVE),
        ),
    )

    vm_id: Mapped[int | None] = mapped_column(ForeignKey("vm.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="RESTRICT"), index=True)
    hostname: Mapped[str] = mapped_column(String(253))
    partitioning: Mapped[str] = mapped_column(Text, default="")
    ssh_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    root_password_hash: Mapped[str | None] = mapped_column(String(255))  # crypt(3) hash only
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the per-install URL secret
    state: Mapped[str] = mapped_column(String(16), default="pending")
    phase: Mapped[str] = mapped_column(String(64), default="")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    vm: Mapped[Vm | None] = relationship()
    node: Mapped[Node | None] = relationship()
    image: Mapped[Image] = relationship()
