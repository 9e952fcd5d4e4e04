"""Ceph clusters and their client users (cephx). Monitors, pools and nodes name a cluster."""

from __future__ import annotations

import uuid as uuidlib

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import SECRET, Base, IdMixin


class CephCluster(IdMixin, Base):
    """One Ceph cluster: what ceph.conf needs besides the monitors (found by their link)."""

    __tablename__ = "ceph_cluster"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    # NULL until known: a cluster made up for existing data (migration 0011) has none, and
    # a wrong fsid in ceph.conf would lock clients out, where a missing one does not.
    fsid: Mapped[uuidlib.UUID | None] = mapped_column(Uuid, unique=True)
    # Prefixes in CIDR notation (values.parse_cidr); config text, never range-queried.
    public_network: Mapped[str | None] = mapped_column(String(64))
    cluster_network: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")

    clients: Mapped[list[CephClient]] = relationship(
        back_populates="cluster", order_by="CephClient.id", passive_deletes=True
    )


class CephClient(IdMixin, Base):
    """A cephx user of one cluster (``client.libvirt``). The key is stored encrypted
    (services/secrets.py) and never leaves virtapi but in a secrets-scoped node document."""

    __tablename__ = "ceph_client"
    __table_args__ = (
        UniqueConstraint("ceph_cluster_id", "name"),
        # At most one default client per cluster: nodes naming no client get it.
        Index(
            "ix_ceph_client_default",
            "ceph_cluster_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    ceph_cluster_id: Mapped[int] = mapped_column(ForeignKey("ceph_cluster.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(72))  # client.<id>
    caps: Mapped[str] = mapped_column(Text, default="")
    # The libvirt secret holding the key on hypervisors.
    secret_uuid: Mapped[uuidlib.UUID] = mapped_column(Uuid, unique=True, default=uuidlib.uuid4)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    key_encrypted: Mapped[str | None] = mapped_column(Text, info=SECRET)

    cluster: Mapped[CephCluster] = relationship(back_populates="clients", lazy="joined")

    @property
    def has_key(self) -> bool:
        return self.key_encrypted is not None
