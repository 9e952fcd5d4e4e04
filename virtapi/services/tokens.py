"""API tokens: random, shown once, stored as a sha256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from ..models import ROLES, ApiToken, WebSession
from ..models.base import utcnow
from .errors import Conflict, InvalidInput, NotFound

TOKEN_PREFIX = "va_"  # noqa: S105 - a marker, not a secret
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# A browser signs in again after this long, whatever it did in between.
SESSION_LIFETIME = timedelta(hours=12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    role: str,
    *,
    customer_id: int | None = None,
    name: str = "",
    expires_at: datetime | None = None,
    secrets_scope: bool = False,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the only copy of the plaintext token.

    ``secrets_scope``: node documents served to it carry secrets (Ceph keys), and it may
    store them; for admin, operator and reader tokens (config management), never customers.
    """
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if secrets_scope and role == "customer":
        raise InvalidInput(
            "the secrets scope is for admin, operator and reader tokens, not customers",
            errors={"secrets": ["not for customer tokens"]},
        )
    if (role == "customer") != (customer_id is not None):
        raise InvalidInput(
            "a customer token needs a customer id, and only a customer token has one",
            errors={"customer_id": ["required for role customer, and only for it"]},
        )
    if customer_id is not None and customer_id <= 0:
        raise InvalidInput("customer id must be a positive integer")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        role=role,
        customer_id=customer_id,
        expires_at=expires_at,
        secrets=secrets_scope,
    )
    session.add(row)
    session.flush()
    return row, plaintext


def could_be_token(plaintext: str) -> bool:
    """Whether ``plaintext`` has the shape of a token at all; one that does not can match none."""
    return plaintext.startswith(TOKEN_PREFIX) and len(plaintext) <= 128


# The token row of a digest, read by the caller (config management reads it in the statement
# that also asks what changed, see change_feed.changes_with): an ApiToken or a row of its columns.
TokenLookup = Callable[[str], Any]


def authenticate(
    session: Session | None,
    plaintext: str,
    now: datetime | None = None,
    lookup: TokenLookup | None = None,
) -> Any:
    """The live token matching ``plaintext`` (an ApiToken, or the row ``lookup`` read), or
    None for unknown, revoked or expired ones. ``session`` is read only without ``lookup``."""
    if not could_be_token(plaintext):
        return None
    digest = hash_token(plaintext)
    if lookup is not None:
        row = lookup(digest)
    elif session is not None:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    else:
        raise TypeError("authenticate needs a session or a lookup")
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

    def note(self, row: Any, now: datetime | None = None) -> None:
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


def _live(now: datetime) -> Any:
    return (ApiToken.revoked_at.is_(None)) & or_(
        ApiToken.expires_at.is_(None), ApiToken.expires_at > now
    )


def revoke(session: Session, token_id: int, *, caller_token_id: int | None = None) -> ApiToken:
    """Revoke a token. Through the API (``caller_token_id`` set) an admin cannot revoke the
    token it is using nor the last live admin token: either would lock every admin out, and
    only shell access to ``virtapi token create`` could undo it."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id}")
    if caller_token_id is not None and row.revoked_at is None:
        if row.id == caller_token_id:
            raise Conflict(
                "this is the token of this request; revoke it with another admin token",
                code="own_token",
            )
        now = utcnow()
        others = session.scalar(
            select(func.count()).where(ApiToken.role == "admin", ApiToken.id != row.id, _live(now))
        )
        if row.role == "admin" and not others:
            raise Conflict("this is the last live admin token; create another first",
                           code="last_admin")  # fmt: skip
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    # Its browser sessions are void already (session_token checks the token); drop the rows.
    session.execute(delete(WebSession).where(WebSession.token_id == token_id))
    return row


def open_session(session: Session, token: ApiToken, now: datetime | None = None) -> str:
    """A new browser session for ``token``; returns the only copy of its random id."""
    now = now or utcnow()
    session.execute(
        delete(WebSession).where(WebSession.token_id == token.id, WebSession.expires_at <= now)
    )
    sid = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=hash_token(sid), token_id=token.id, created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )  # fmt: skip
    return sid


def session_token(session: Session, sid: str, now: datetime | None = None) -> ApiToken | None:
    """The live token behind a live browser session, in one SELECT; None otherwise."""
    if not sid or len(sid) > 128:
        return None
    now = now or utcnow()
    return session.scalar(
        select(ApiToken)
        .join(WebSession, WebSession.token_id == ApiToken.id)
        .where(
            WebSession.id_hash == hash_token(sid),
            WebSession.expires_at > now,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    )


def close_session(session: Session, sid: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == hash_token(sid)))
