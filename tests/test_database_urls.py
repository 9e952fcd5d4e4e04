"""`postgresql://`, `postgresql+psycopg://` and `postgresql+psycopg2://` all reach PostgreSQL,
or say what to install (docs: README "Performance", DESIGN "Storage")."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import text

from tests.pg import PostgresCluster
from virtapi.db import make_engine, resolve_url


@pytest.mark.parametrize(
    ("scheme", "driver"),
    [
        ("postgresql", "psycopg"),
        ("postgresql+psycopg", "psycopg"),
        ("postgresql+psycopg2", "psycopg2"),
    ],
)
def test_every_postgresql_url_connects(
    pg_cluster: PostgresCluster, scheme: str, driver: str
) -> None:
    url = pg_cluster.url().replace("postgresql+psycopg2", scheme)
    engine = make_engine(url)
    try:
        assert engine.dialect.driver == driver
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_plain_url_falls_back_to_psycopg2(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import psycopg` fail: psycopg 3 "not installed".
    monkeypatch.setitem(sys.modules, "psycopg", None)
    assert resolve_url("postgresql://u:secret@db/virtapi") == (
        "postgresql+psycopg2://u:secret@db/virtapi"
    )


def test_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(ValueError, match=r"pip install 'psycopg2-binary', or use postgresql://"):
        make_engine("postgresql+psycopg2://u@db/virtapi")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ValueError, match=r"pip install 'psycopg\[binary\]'"):
        make_engine("postgresql://u@db/virtapi")


def test_sqlite_urls_are_untouched() -> None:
    assert resolve_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"
