"""Which transactions wrote: a transaction that ran only reads can end with COMMIT.

Ending it with COMMIT or ROLLBACK is the same for the data, but psycopg 3 forgets every
server-side prepared statement of a connection on ROLLBACK, so a request teardown that
always rolled back made PostgreSQL plan every statement of every request again.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

# A statement that may change something. SQLAlchemy writes keywords in upper case and our
# names are lower case, so a column called "update" does not match; a false match (SELECT ...
# FOR UPDATE) only costs the rollback every request used to end with.
_WRITES = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|TRUNCATE|COPY|CREATE|ALTER|DROP)\b")
# Connection.info key: this transaction ran a statement that may have written.
WROTE = "virtapi.wrote"
# Session.info key: the connection the session's transaction runs on.
_CONNECTION = "virtapi.connection"


@functools.lru_cache(maxsize=1024)
def _may_write(statement: str) -> bool:
    # Cached: SQLAlchemy sends the same string object for a cached compiled statement, and a
    # regex scan of the node document's 12 KB statement cost ~0.4 ms on every build.
    return _WRITES.search(statement) is not None


def track_writes(engine: Engine) -> None:
    """Mark a connection's transaction once it runs a statement that may write."""

    @event.listens_for(engine, "begin")
    def _began(conn: Any) -> None:
        conn.info.pop(WROTE, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _executing(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # conn is None for services/direct_read (a SELECT in autocommit, no transaction).
        if conn is not None and WROTE not in conn.info and _may_write(statement):
            conn.info[WROTE] = True


def mark_written(conn: Any) -> None:
    """For writes that bypass statement events (COPY through the driver's cursor)."""
    conn.info[WROTE] = True


def remember_connection(session: Session, _transaction: Any, connection: Any) -> None:
    """A sessionmaker's ``after_begin`` listener: where `wrote_nothing` looks."""
    session.info[_CONNECTION] = connection


def wrote_nothing(session: Session) -> bool:
    """The session's open transaction ran only reads and holds no unflushed objects."""
    conn = session.info.get(_CONNECTION)
    return (
        conn is not None
        and not conn.closed
        and conn.in_transaction()
        and not conn.info.get(WROTE)
        and not (session.new or session.dirty or session.deleted)
    )
