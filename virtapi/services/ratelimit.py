"""Failed authentications counted per source address in the database, so every API host and
worker shares one count (a per-process counter would multiply the limit by the worker count)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ..models import AuthFailure
from ..models.base import utcnow


@dataclass(frozen=True)
class Policy:
    max_failures: int = 20
    window: timedelta = timedelta(minutes=5)


def blocked_for(
    session: Session, source: str, policy: Policy, now: datetime | None = None
) -> int | None:
    """Seconds until ``source`` may try again, or None when it is not blocked."""
    now = now or utcnow()
    row = session.get(AuthFailure, source)
    if row is None or row.failures < policy.max_failures:
        return None
    remaining = row.window_start + policy.window - now
    return max(1, int(remaining.total_seconds()) + 1) if remaining.total_seconds() > 0 else None


def record_failure(
    session: Session, source: str, policy: Policy, now: datetime | None = None
) -> int:
    """Count one failure for ``source``; returns the failures in the current window."""
    now = now or utcnow()
    # The row lock serialises concurrent failures from one source on PostgreSQL.
    row = session.get(AuthFailure, source, with_for_update=True)
    if row is None:
        row = AuthFailure(source=source, window_start=now, failures=0)
        session.add(row)
    elif row.window_start + policy.window <= now:
        row.window_start, row.failures = now, 0
    row.failures += 1
    return row.failures
