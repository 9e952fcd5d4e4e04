"""Engines and the per-request session: one transaction per request, committed by the view."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs to enforce our constraints."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over.
        @event.listens_for(engine, "connect")
        def _no_pysqlite_tx(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so concurrent writers queue instead of
            # failing with "database is locked" when they upgrade a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The engines of one app: writes (and by default reads) go to the primary."""

    def __init__(self, url: str, read_url: str | None = None) -> None:
        self.engine = make_engine(url)
        self.read_engine = make_engine(read_url) if read_url else None
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session outside a request (CLI, scripts): commit on success, roll back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


def init_app(app: Flask) -> Database:
    db = Database(app.config["DATABASE_URL"], app.config.get("DATABASE_READ_URL"))
    app.extensions["virtapi.db"] = db
    app.teardown_appcontext(_close_session)
    return db


def get_db() -> Database:
    return current_app.extensions["virtapi.db"]


def get_session() -> Session:
    """The request's session, created on first use."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        # Whatever the view did not commit is rolled back: nothing half-written.
        session.close()
