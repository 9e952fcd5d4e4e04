"""API tokens: random, shown once, stored as a sha256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from ..models import ROLES, ApiToken
from ..models.base import utcnow
from .errors import InvalidInput, NotFound

TOKEN_PREFIX = "va_"  # noqa: S105 - a marker, not a secret
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    role: str,
    *,
    customer_id: int | None = None,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the only copy of the plaintext token."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if (role == "customer") != (customer_id is not None):
        raise InvalidInput("a customer token needs --customer-id, and only a customer token")
    if customer_id is not None and customer_id <= 0:
        raise InvalidInput("customer id must be a positive integer")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        role=role,
        customer_id=customer_id,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def authenticate(session: Session, plaintext: str, now: datetime | None = None) -> ApiToken | None:
    """The live token matching ``plaintext``, or None for unknown, revoked or expired ones."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 128:
        return None
    digest = hash_token(plaintext)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The index lookup already matched; compare again in constant time so no timing of
    # string comparison inside the database driver or Python leaks how close a guess was.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = now or utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row


class UsageLog:
    """Token use noted in memory and written later in one batched UPDATE.

    Authentication stays one SELECT and never writes inside the request's transaction; a
    token is noted only when its stored ``last_used_at`` is older than the resolution, so
    the write happens at most every few minutes per token.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, datetime] = {}

    def note(self, row: ApiToken, now: datetime | None = None) -> None:
        now = now or utcnow()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            with self._lock:
                self._pending[row.id] = now

    def __bool__(self) -> bool:
        return bool(self._pending)

    def flush(self, session: Session) -> int:
        """Write what was noted (the caller commits); returns how many tokens."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        stmt = (
            update(ApiToken)
            .where(ApiToken.id == bindparam("tid"))
            # Never move a later timestamp another process wrote back in time.
            .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < bindparam("used")))
            .values(last_used_at=bindparam("used"))
        )
        session.connection().execute(
            stmt, [{"tid": tid, "used": used} for tid, used in pending.items()]
        )
        return len(pending)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
