"""Is this process fit to take traffic: database reachable and at the Alembic head, and the
read replica (when configured) not lagging more than the configured limit."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .. import migrate
from ..db import Database

# 0 while the replica has replayed everything it received (an idle primary writes nothing, so
# the age of the last replayed transaction alone would grow without any lag).
_PG_REPLICA_LAG = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


@dataclass
class Readiness:
    ready: bool = True
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.ready = False
        self.reasons.append(reason)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ready" if self.ready else "not ready"}
        if self.reasons:
            body["reason"] = "; ".join(self.reasons)
        body["checks"] = self.checks
        return body


log = logging.getLogger(__name__)


@functools.cache
def head_revision() -> str | None:
    """The migration scripts' head: fixed for the life of the process."""
    return migrate.head()


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def current_revision(conn: Connection) -> str | None:
    """Alembic's revision of the database (None before the first migration).

    Read directly: alembic's MigrationContext logs at INFO each time, and probes come often.
    """
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _check_primary(engine: Engine, result: Readiness) -> None:
    head = head_revision()
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    except SQLAlchemyError as exc:
        # The driver's message names hosts and users: for the log, not for anonymous probes.
        log.warning("readiness: database unreachable: %s", _first_line(exc))
        result.checks["database"] = "unreachable"
        result.fail("database unreachable")
        return
    result.checks["database"] = "ok"
    result.checks["migration"] = {"current": current, "head": head}
    if current != head:
        result.fail(
            f"database schema at {current or 'no revision'}, code expects {head}: "
            "run 'virtapi db upgrade'"
        )


def _check_replica(engine: Engine, max_lag: float, result: Readiness) -> None:
    try:
        with engine.connect() as conn:
            lag = (
                float(conn.execute(_PG_REPLICA_LAG).scalar_one())
                if engine.dialect.name == "postgresql"
                else 0.0
            )
    except DBAPIError as exc:
        log.warning("readiness: read replica unreachable: %s", _first_line(exc))
        result.checks["replica"] = "unreachable"
        result.fail("read replica unreachable")
        return
    result.checks["replica"] = {"lag_seconds": round(lag, 3), "max_lag_seconds": max_lag}
    if lag > max_lag:
        result.fail(f"read replica {lag:.1f} s behind the primary (limit {max_lag:g} s)")


def check(db: Database, max_replica_lag: float) -> Readiness:
    """Readiness of ``db``; ``max_replica_lag`` <= 0 leaves the replica out of it."""
    result = Readiness()
    _check_primary(db.engine, result)
    if db.read_engine is not None and max_replica_lag > 0:
        _check_replica(db.read_engine, max_replica_lag, result)
    return result
