"""Failed authentications counted per source address in the database, so every API host and
worker shares one count (a per-process counter would multiply the limit by the worker count).

Only failures are throttled: a valid token is always served, whatever its address did before.
Tokens are 256-bit random, so guessing is not what the limit defends against; a stale token on a
puppetserver must not stop configuration management for every node behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..models import AuthFailure
from ..models.base import utcnow


@dataclass(frozen=True)
class Policy:
    max_failures: int = 20
    window: timedelta = timedelta(minutes=5)


def record_failure(
    session: Session, source: str, policy: Policy, now: datetime | None = None
) -> int | None:
    """Count one failure for ``source`` in one statement; seconds to wait when over the limit.

    An upsert, so concurrent first failures from one address neither race nor need a row lock,
    and the count comes back in the same round trip.
    """
    now = now or utcnow()
    insert = (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert
    expired = AuthFailure.window_start <= now - policy.window
    stmt = insert(AuthFailure).values(source=source, window_start=now, failures=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AuthFailure.source],
        set_={
            "failures": case((expired, 1), else_=AuthFailure.failures + 1),
            "window_start": case((expired, now), else_=AuthFailure.window_start),
        },
    ).returning(AuthFailure.failures, AuthFailure.window_start)
    failures, window_start = session.execute(stmt).one()
    if failures <= policy.max_failures:
        return None
    remaining = (window_start + policy.window - now).total_seconds()
    return max(1, int(remaining) + 1)
