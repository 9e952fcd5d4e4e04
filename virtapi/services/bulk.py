"""Insert many rows fast inside the session's transaction, with their new ids.

PostgreSQL gets ``COPY … FROM STDIN`` with ids drawn from the table's sequence beforehand
(several times faster than multi-row INSERT … RETURNING, in the server and in Python).
SQLite gets executemany with ids counted on from the current maximum: our SQLite
transactions begin IMMEDIATE, so no other writer can take an id meanwhile. Values go through
each column type's bind processing, so addresses, MACs and JSON are stored exactly as the ORM
would store them. Core inserts bypass the unit of work: the caller logs the changes itself
(``audit.record_bulk_create``).
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from ..transactions import mark_written

_UNSET = object()
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    kind = type(value)
    if kind is str:
        return value.translate(_ESCAPES)
    if kind is int:
        return str(value)
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)
    # The drivers wrap binary parameters (psycopg2.Binary .adapted, psycopg.Binary .obj);
    # COPY wants the bytes themselves.
    value = getattr(value, "adapted", value)
    if hasattr(value, "obj"):  # psycopg 3: Binary(bytes), Json/Jsonb(any value, None = null)
        value = value.obj if isinstance(value.obj, bytes | memoryview) else json.dumps(value.obj)
    if isinstance(value, bytes | memoryview):
        return "\\\\x" + bytes(value).hex()
    if isinstance(value, datetime | uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        value = json.dumps(value)
    return str(value).translate(_ESCAPES)


# Execution option on the INSERTs below: their rows are recorded (and their affected
# certnames resolved) by audit.record_bulk_create, not "a write of unknown consequence".
RECORDED = "virtapi_recorded"


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]], *, ids: bool) -> None:
    """Insert ``rows`` (dicts with the same keys). With ``ids``, each dict gets its new ``id``
    (the table's single auto-increment key); without, the rows must carry their keys."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if ids and dialect == "sqlite":
        start = session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        for new_id, row in enumerate(rows, start=start + 1):
            row["id"] = new_id
    elif ids and dialect == "postgresql":
        new_ids = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": len(rows)},
        ).scalars()
        for row, new_id in zip(rows, new_ids, strict=True):
            row["id"] = new_id
    elif ids:
        result = session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            rows,
            execution_options={RECORDED: True},
        )
        for row, (new_id,) in zip(rows, result, strict=True):
            row["id"] = new_id
        return
    if dialect == "postgresql":
        _copy(session, table, rows)
    else:
        session.execute(insert(table), rows, execution_options={RECORDED: True})


def analyze(session: Session, tables: list[Table]) -> None:
    """Fresh planner statistics for ``tables`` on PostgreSQL (inside the transaction: ANALYZE
    counts its own uncommitted rows). After a bulk load the planner still thinks the tables
    are as small as before, and the statements that follow (the change log's certname
    resolution joins the new rows by id lists) pick nested loops that grow with the square
    of the import. A no-op on SQLite, whose planner has no such statistics to go stale; a
    user that may not analyze a table only gets a warning from the server."""
    if not tables or session.get_bind().dialect.name != "postgresql":
        return
    names = ", ".join(sorted({t.name for t in tables}))
    session.execute(text(f"ANALYZE {names}"))


def _copy(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    dialect = session.get_bind().dialect
    processors = [table.c[k].type._cached_bind_processor(dialect) for k in keys]
    plain = [(i, k) for i, (k, p) in enumerate(zip(keys, processors, strict=True)) if p is None]
    processed = [(i, k, p) for i, (k, p) in enumerate(zip(keys, processors, strict=True)) if p]
    buf = io.StringIO()
    write = buf.write
    width = len(keys)
    # The text of each column's previous value: a batch often hands the same object to
    # every row (the change log's time, actor, action and affected list), encoded once then.
    last: list[tuple[Any, str]] = [(_UNSET, "")] * width
    for row in rows:
        fields = [""] * width
        for i, k in plain:
            value = row[k]
            seen, encoded = last[i]
            if value is not seen:
                encoded = _copy_text(value)
                last[i] = (value, encoded)
            fields[i] = encoded
        for i, k, proc in processed:
            value = row[k]
            seen, encoded = last[i]
            if value is not seen:
                # Always through the processor: JSON stores None as JSON null, like the ORM.
                encoded = _copy_text(proc(value))
                last[i] = (value, encoded)
            fields[i] = encoded
        write("\t".join(fields))
        write("\n")
    buf.seek(0)
    columns = ", ".join(dialect.identifier_preparer.quote(k) for k in keys)
    name = dialect.identifier_preparer.format_table(table)
    sql = f"COPY {name} ({columns}) FROM STDIN"
    connection = session.connection()
    mark_written(connection)  # the driver's cursor runs no statement events
    cursor = connection.connection.cursor()
    try:
        if hasattr(cursor, "copy_expert"):  # psycopg2 (postgresql+psycopg2://)
            cursor.copy_expert(sql, buf)
        else:  # psycopg 3 (postgresql://, postgresql+psycopg://)
            with cursor.copy(sql) as copy:
                copy.write(buf.getvalue())
    finally:
        cursor.close()
