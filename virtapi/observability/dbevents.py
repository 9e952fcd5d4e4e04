"""Statement counts and connection-pool use, from SQLAlchemy's engine and pool events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from ..db import Database
from . import metrics


def _instrument(engine: Engine, name: str) -> None:
    def before_cursor_execute(*_args: Any) -> None:
        metrics.count_statement(name)

    def connect(*_args: Any) -> None:
        metrics.count_connection(name)

    def checkout(*_args: Any) -> None:
        metrics.pool_checkout(name, 1)

    def checkin(*_args: Any) -> None:
        metrics.pool_checkout(name, -1)

    event.listen(engine, "before_cursor_execute", before_cursor_execute)
    event.listen(engine.pool, "connect", connect)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)


def instrument(db: Database) -> None:
    _instrument(db.engine, "primary")
    if db.read_engine is not None:
        _instrument(db.read_engine, "replica")
