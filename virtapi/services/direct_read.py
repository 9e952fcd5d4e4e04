"""One SELECT straight through the database driver, for the hottest read there is."""

from __future__ import annotations

import functools
from collections import namedtuple
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


@functools.cache
def _direct(stmt: Select[Any], dialect: Dialect) -> tuple[str, Any, dict[str, Any], Any, Any]:
    """What `read_direct` sends for ``stmt``: its SQL, bind order, constant binds, result
    converters and row type, worked out once per statement and dialect."""
    compiled = stmt.compile(dialect=dialect)
    columns = list(stmt.selected_columns)
    converters = tuple(
        c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
    )
    order = tuple(compiled.positiontup or ()) if compiled.positional else None
    row = namedtuple("row", [c.name for c in columns])  # type: ignore[misc]
    # Binds with a value in the statement itself (``id = 1``); the caller gives the others.
    constants = {k: b.effective_value for k, b in compiled.binds.items() if not b.required}
    return compiled.string, order, constants, converters, row


def read_direct(engine: Engine, stmt: Select[Any], params: dict[str, Any]) -> list[Any]:
    """The rows of one SELECT, read on a pooled connection outside any transaction, through
    the driver itself: rows with the columns as attributes, converted like the ORM's.

    For the one statement of a cached ENC/Hiera/pillar hit. SQLAlchemy's execution path
    (connection object, isolation switch, execution context, result object) cost more than
    twice the driver's own time for that statement. What matters of it is kept: the pool
    (its idle ping and metrics), ``before_cursor_execute`` listeners (statement metrics and
    counts), errors as ``DBAPIError`` (503 with Retry-After), a lost connection invalidated.
    The statement must have no bind processors (plain integers and strings).
    """
    sql, order, defaults, converters, row = _direct(stmt, engine.dialect)
    values = {**defaults, **params}
    args = tuple(values[name] for name in order) if order is not None else values
    # PostgreSQL would open a transaction (BEGIN, and a ROLLBACK at checkin: two more round
    # trips); SQLite's connections run without one already (make_engine).
    autocommit = engine.dialect.name == "postgresql"
    conn = engine.raw_connection()
    try:
        if autocommit:
            engine.dialect.set_isolation_level(conn.dbapi_connection, "AUTOCOMMIT")
        try:
            cursor = conn.cursor()
            engine.dispatch.before_cursor_execute(None, cursor, sql, args, None, False)
            cursor.execute(sql, args)
            rows = cursor.fetchall()
            cursor.close()
        except engine.dialect.loaded_dbapi.Error as exc:
            lost = engine.dialect.is_disconnect(exc, conn.dbapi_connection, None)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                sql, args, exc, engine.dialect.loaded_dbapi.Error, connection_invalidated=lost
            ) from exc
        finally:
            if autocommit and conn.dbapi_connection is not None:
                engine.dialect.reset_isolation_level(conn.dbapi_connection)
    finally:
        conn.close()
    return [
        row(*[value if convert is None else convert(value)
              for convert, value in zip(converters, raw, strict=True)])
        for raw in rows
    ]  # fmt: skip
