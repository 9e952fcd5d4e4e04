"""API tokens. Only a hash is stored; the token itself is shown once at creation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, UTCDateTime, utcnow

ROLES = ("admin", "operator", "reader", "customer")


class ApiToken(IdMixin, Base):
    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'operator', 'reader', 'customer')", name="role_known"),
        CheckConstraint(
            "(role = 'customer') = (customer_id IS NOT NULL)", name="customer_id_iff_customer"
        ),
        CheckConstraint("customer_id IS NULL OR customer_id > 0", name="customer_id_positive"),
        CheckConstraint("NOT secrets OR role <> 'customer'", name="secrets_not_customer"),
    )

    name: Mapped[str] = mapped_column(String(128), default="")
    # sha256 of the token: tokens are 256 random bits, so a fast hash loses nothing to brute force.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # The secrets scope: node documents served to this token carry Ceph keys.
    secrets: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthFailure(Base):
    """Failed authentications per source address in the current window, shared by all API hosts."""

    __tablename__ = "auth_failure"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_non_negative"),)

    source: Mapped[str] = mapped_column(String(45), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)


class WebSession(Base):
    """A signed-in browser. The cookie holds only a random id; this row, keyed by its hash, is
    what makes it worth anything: deleted at sign-out, void with its token, and expiring."""

    __tablename__ = "web_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_token.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
