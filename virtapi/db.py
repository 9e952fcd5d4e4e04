"""Engines and the per-request session: one transaction per request, committed by the view."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from .config import settings_of
from .services.audit import set_actor
from .transactions import remember_connection, track_writes, wrote_nothing

log = logging.getLogger(__name__)

# A replica that does not answer within this many seconds counts as down for this request.
REPLICA_CONNECT_TIMEOUT = 2

# A pooled PostgreSQL connection idle longer than this is pinged before use. Pinging on every
# checkout (pool_pre_ping) was a second round trip on every request, as much as a cached ENC
# answer's own statement; a connection returned a moment ago is alive unless the server died
# in that moment, and then the request answers 503 with Retry-After and the pool starts over.
PING_AFTER_IDLE_SECONDS = 1.0


# PostgreSQL drivers: SQLAlchemy name → (module, what to pip install).
_PG_DRIVERS = {
    "psycopg": ("psycopg", "psycopg[binary]"),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
}


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def resolve_url(url: str) -> str:
    """The URL with a PostgreSQL driver that is installed, or a ValueError saying what to install.

    ``postgresql+psycopg://`` and ``postgresql+psycopg2://`` name their driver and get it.
    A plain ``postgresql://`` names none; SQLAlchemy 2.1 maps it to psycopg 3, 2.0 to
    psycopg2. We take psycopg 3 (server-side prepared statements: the node document's
    statements are planned once per connection, not per request) and fall back to psycopg2,
    so the URL most people paste works with either installed.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    driver = parsed.drivername.partition("+")[2]
    if not driver:
        for name, (module, _) in _PG_DRIVERS.items():
            if _installed(module):
                return parsed.set(drivername=f"postgresql+{name}").render_as_string(
                    hide_password=False
                )
        raise ValueError(
            "no PostgreSQL driver installed for the database URL: "
            "pip install 'psycopg[binary]' (or psycopg2-binary)"
        )
    if driver in _PG_DRIVERS and not _installed(_PG_DRIVERS[driver][0]):
        module, package = _PG_DRIVERS[driver]
        raise ValueError(
            f"the database URL names the {driver} driver, but {module} is not installed: "
            f"pip install '{package}', or use postgresql:// (any installed driver)"
        )
    return url


def make_engine(
    url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, **kwargs: Any
) -> Engine:
    """An engine with the settings each backend needs to enforce our constraints; pooled
    PostgreSQL connections idle for `ping_after_idle` seconds are pinged before use."""
    url = resolve_url(url)
    if url.startswith("sqlite"):
        connect_args = {"timeout": 30, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

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

        track_writes(engine)
        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine, ping_after_idle)
    track_writes(engine)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only after `idle_seconds` unused; a dead one is
    replaced (DisconnectionError makes the pool reconnect) before the request sees it."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            alive = False
            log.info("pooled connection lost while idle, reconnecting: %s", exc)
        if not alive:
            raise DisconnectionError("connection lost while idle in the pool")


class Database:
    """The engines of one app: writes go to the primary; reads that may lag a little
    (config management, GET views) go to a streaming replica when one is configured.

    When the replica does not answer, reads fall back to the primary, and the replica is
    left alone for ``replica_retry_seconds`` so that every request does not wait on it.
    """

    def __init__(
        self, url: str, read_url: str | None = None, replica_retry_seconds: float = 10.0
    ) -> None:
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessionmaker, "after_begin", remember_connection)
        self.read_engine: Engine | None = None
        self.read_sessionmaker: sessionmaker[Session] | None = None
        if read_url:
            connect_args = (
                {}
                if read_url.startswith("sqlite")
                else {"connect_timeout": REPLICA_CONNECT_TIMEOUT}
            )
            # Always pinged: a replica that went away must show at checkout, where
            # read_session() falls back to the primary, not halfway through a view.
            self.read_engine = make_engine(read_url, connect_args=connect_args, ping_after_idle=0)
            self.read_sessionmaker = sessionmaker(self.read_engine, expire_on_commit=False)
            event.listen(self.read_sessionmaker, "after_begin", remember_connection)
        self.replica_retry_seconds = replica_retry_seconds
        self._replica_down_until = 0.0
        self._lock = threading.Lock()

    def read_session(self) -> Session | None:
        """A session on the replica, already connected; None when there is no replica or it
        is down (the caller then reads from the primary)."""
        if self.read_sessionmaker is None or time.monotonic() < self._replica_down_until:
            return None
        session = self.read_sessionmaker()
        try:
            # Connect now, so a dead replica shows here and not halfway through a view.
            session.connection()
        except DBAPIError as exc:
            session.close()
            with self._lock:
                self._replica_down_until = time.monotonic() + self.replica_retry_seconds
            log.warning(
                "read replica unavailable, reading from the primary for %ss: %s",
                self.replica_retry_seconds,
                str(exc.orig).strip().splitlines()[0] if exc.orig else exc,
            )
            return None
        return session

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
    settings = settings_of(app)
    db = Database(
        settings.database_url,
        settings.database_read_url,
        replica_retry_seconds=settings.replica_retry_seconds,
    )
    app.extensions["virtapi.db"] = db
    app.teardown_appcontext(_close_session)
    return db


def get_db() -> Database:
    return current_app.extensions["virtapi.db"]


# g: (token id, label) of the authenticated caller (auth.resolve_principal). Kept on g rather
# than written into a session, so that a request answered without the ORM (a cached ENC,
# Hiera or pillar hit) never makes a Session only to label it; the session made later is.
ACTOR = "virtapi_actor"


def get_session() -> Session:
    """The request's session, created on first use (with the caller as its audit actor)."""
    if "db_session" not in g:
        session = g.db_session = get_db().sessionmaker()
        actor = g.get(ACTOR)
        if actor is not None:
            set_actor(session, *actor)
    return g.db_session


def get_read_session() -> Session:
    """The request's session for reading only: on the replica when one is configured and
    answers, else the request's ordinary session (so nothing changes without a replica).

    For views that only read (ENC, Hiera, pillar, GET lists and gets). What they read may lag
    the primary by the replication delay; never write through it, and never read from it
    what the same request has just written. Authentication stays on the primary (token
    revocation takes effect at once, and last-use updates are writes).
    """
    if "db_read_session" not in g:
        session = get_db().read_session()
        g.db_read_session = session if session is not None else get_session()
    return g.db_read_session


def _end_read_only(session: Session) -> None:
    """End a transaction that wrote nothing with COMMIT rather than ROLLBACK: the same for
    the data, but psycopg 3 forgets every server-side prepared statement of the connection
    on ROLLBACK, so PostgreSQL planned every statement of every request again (6 ms of a GET
    of one VM, twice the node document's execution)."""
    if not wrote_nothing(session):
        return
    try:
        session.commit()
    except Exception:  # noqa: BLE001 - the close below rolls back whatever is left
        log.debug("read-only transaction did not commit; rolling back", exc_info=True)


def close_quietly(session: Session) -> None:
    """End a request's session: COMMIT if it only read, else roll back what it did not commit."""
    try:
        _end_read_only(session)
        session.close()
    except DBAPIError:
        # The connection died (PostgreSQL restarted, backend terminated): the rollback inside
        # close() fails, but the transaction is gone with the connection anyway. Raising here,
        # after the response was made, turned a 503 with Retry-After into an empty 500.
        log.warning("closing a session whose connection was lost", exc_info=True)
        session.invalidate()


def _close_session(_exc: BaseException | None) -> None:
    read = g.pop("db_read_session", None)
    session = g.pop("db_session", None)
    if read is not None and read is not session:
        close_quietly(read)
    if session is not None:
        # Whatever the view wrote and did not commit is rolled back: nothing half-written.
        close_quietly(session)
