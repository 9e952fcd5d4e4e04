"""The change log: who changed what, when, with the fields before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, UTCDateTime, utcnow


class Change(IdMixin, Base):
    """No foreign keys on purpose: the record outlives the object it describes."""

    __tablename__ = "change"
    __table_args__ = (Index("ix_change_object", "object_type", "object_id"),)

    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_token_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(8))  # create, update, delete
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    # The customer whose object this is, so customers can read their own history.
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Certnames whose node document this change alters (services/affected.py).
    affected: Mapped[list[str] | None] = mapped_column(JSON)


class DataVersion(Base):
    """One row: a counter raised once by every committed transaction that changes data.

    Caches (the node-document cache) compare it to know whether anything changed. Not the
    newest change id: ids are drawn before commit, so a later commit can carry a smaller
    one; the row lock taken by ``UPDATE … SET version = version + 1`` orders the commits.
    """

    __tablename__ = "data_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    # change_node keeps the versions after this one; an older feed cursor must resync.
    retained_from: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ChangeNode(Base):
    """(version, certname): the certnames a committed transaction changed, written in that
    transaction with the version it raised ``data_version`` to. Feed cursors and per-node
    cache invalidation read it; old versions are pruned (``retained_from``)."""

    __tablename__ = "change_node"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # "*": a write whose consequences are unknown (a raw SQL statement): every document.
    certname: Mapped[str] = mapped_column(String(253), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AppliedDocument(Base):
    """The document hash a host last reported applying, and that document when virtapi
    still served it (one row per certname, so bounded by the fleet)."""

    __tablename__ = "applied_document"

    certname: Mapped[str] = mapped_column(String(253), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The data version whose document the host had applied at its last report (NULL: the
    # hash it applied was not the one served then). A change_node row for the certname after
    # it means drift, so the fleet's drift is one SQL statement, no document built.
    synced_version: Mapped[int | None] = mapped_column(BigInteger)
