"""Transaction-scoped locks that serialise allocation decisions across API processes.

SQLite needs none of this: db.py opens every transaction with BEGIN IMMEDIATE, so writers
already run one at a time. On PostgreSQL two transactions could both read "address .5 is free"
and both take it; the unique constraints would turn that into a failed request, so we
serialise the decision itself instead and keep the constraints as the last line of defence.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` (hash() differs per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def advisory_lock(session: Session, name: str) -> None:
    """Hold the named lock until this transaction ends (commit or rollback releases it)."""
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def lock_row(session: Session, model: type[Any], row_id: int) -> Any:
    """The row, re-read and locked FOR UPDATE (a plain read on SQLite, which is serialised)."""
    return session.scalars(
        select(model)
        .where(model.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
