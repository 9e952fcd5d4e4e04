"""Fixtures shared by every test: each database-backed test runs on SQLite and on PostgreSQL.

A test gets its own freshly migrated database, copied from a template migrated once per
session, so tests can commit for real (concurrency, change log) without seeing each other.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.apps import make_app
from tests.support.pg import PostgresCluster, pg_bindir
from virtapi import migrate
from virtapi.db import Database
from virtapi.services import tokens
from virtapi.services.audit import set_actor

REQUIRE_INTEGRATION = os.environ.get("VIRTAPI_REQUIRE_INTEGRATION") == "1"
BACKENDS = [b for b in os.environ.get("VIRTAPI_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


def skip_or_fail(reason: str) -> None:
    """Skip where a tool is missing on a laptop; fail in CI, where .ci/run must install it."""
    if REQUIRE_INTEGRATION:
        pytest.fail(f"{reason} (VIRTAPI_REQUIRE_INTEGRATION=1: CI must install it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    bindir = pg_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries (initdb) not installed")
    cluster = PostgresCluster(bindir).init().start()  # type: ignore[arg-type]
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PostgresCluster) -> str:
    admin = create_engine(pg_cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE virtapi_template"))
    admin.dispose()
    migrate.upgrade(pg_cluster.url("virtapi_template"))
    return "virtapi_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    migrate.upgrade(f"sqlite:///{path}")
    return path


_counter = itertools.count()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database on each backend."""
    name = f"t{os.getpid()}_{next(_counter)}"
    with fresh_database(request, request.param, tmp_path / "virtapi.sqlite", name) as url:
        yield url


@contextlib.contextmanager
def fresh_database(
    request: pytest.FixtureRequest, backend: str, sqlite_path: Path, name: str
) -> Iterator[str]:
    """A new database copied from the session's migrated template on `backend`: a file at
    `sqlite_path`, or a PostgreSQL database `name` dropped again afterwards."""
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), sqlite_path)
        yield f"sqlite:///{sqlite_path}"
        return
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    template = request.getfixturevalue("pg_template")
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield cluster.url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Any]:
    """A plain session on the test database; the test commits or rolls back itself."""
    with database.sessionmaker() as s:
        set_actor(s, None, "test")
        yield s


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Any]:
    app = make_app(db_url, tmp_path)
    yield app
    app.extensions["virtapi.db"].dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@dataclass
class Tokens:
    admin: str
    operator: str
    reader: str
    customer_a: str
    customer_b: str

    CUSTOMER_A = 1001
    CUSTOMER_B = 1002

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_tokens(app: Any) -> Tokens:
    """One token per role; customers A and B are the demo's 1001 and 1002."""
    db: Database = app.extensions["virtapi.db"]
    made: dict[str, str] = {}
    with db.session() as s:
        for label, role, customer in (
            ("admin", "admin", None),
            ("operator", "operator", None),
            ("reader", "reader", None),
            ("customer_a", "customer", Tokens.CUSTOMER_A),
            ("customer_b", "customer", Tokens.CUSTOMER_B),
        ):
            _, made[label] = tokens.create_token(s, role, customer_id=customer, name=label)
    return Tokens(**made)


@pytest.fixture
def demo(app: Any) -> Any:
    """The demo fleet loaded into the test database."""
    from virtapi.services.demo import load_demo

    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        set_actor(s, None, "demo")
        return load_demo(s)
