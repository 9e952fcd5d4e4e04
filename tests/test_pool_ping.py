"""Pooled PostgreSQL connections are pinged only after they sat idle (virtapi/db.py)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from tests.support.pg import PostgresCluster
from virtapi.db import make_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(cluster: PostgresCluster, pid: int) -> None:
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()
    time.sleep(0.2)  # the backend's exit reaches the socket


def test_a_connection_killed_while_idle_is_replaced_before_use(pg_cluster: PostgresCluster) -> None:
    engine = make_engine(pg_cluster.url(), pool_size=1, max_overflow=0, ping_after_idle=0.3)
    try:
        killed = _backend_pid(engine)
        _terminate(pg_cluster, killed)
        time.sleep(0.4)  # longer than ping_after_idle: the next checkout pings
        # The ping found it dead, the pool reconnected, and the statement ran.
        assert _backend_pid(engine) != killed
    finally:
        engine.dispose()


def test_a_connection_returned_a_moment_ago_is_used_without_a_ping(
    pg_cluster: PostgresCluster,
) -> None:
    engine = make_engine(pg_cluster.url(), pool_size=1, max_overflow=0, ping_after_idle=60)
    try:
        killed = _backend_pid(engine)
        _terminate(pg_cluster, killed)
        # No ping within the idle window: the dead connection reaches the statement, which
        # fails (a view answers 503 with Retry-After) ...
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        # ... and the pool starts over: the next request gets a live connection.
        assert _backend_pid(engine) != killed
    finally:
        engine.dispose()
