"""`postgresql://`, `postgresql+psycopg://` and `postgresql+psycopg2://` all reach PostgreSQL,
or say what to install (docs: README "Performance", DESIGN "Storage")."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import make_url, text

from bench.fleet import generate
from tests.support.pg import PostgresCluster
from virtapi.db import Database, make_engine, resolve_url
from virtapi.services import transfer
from virtapi.services.audit import set_actor


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
    url = make_url(pg_cluster.url()).set(drivername=scheme).render_as_string(hide_password=False)
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


def test_import_and_export_through_psycopg2(db_url: str) -> None:
    """The importer's COPY goes through the driver's own API, which differs between
    psycopg2 and psycopg 3 (the suite's driver); the round trip must hold on psycopg2 too."""
    if not db_url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL only")
    url = db_url.replace("postgresql+psycopg", "postgresql+psycopg2")
    fleet = generate(3, 4, 3, 2)
    db = Database(url)
    try:
        assert db.engine.dialect.driver == "psycopg2"
        with db.session() as session:
            set_actor(session, None, "test")
            transfer.import_inventory(session, fleet)
        with db.session() as session:
            exported = transfer.export_inventory(session)
            changes = session.execute(
                text("SELECT count(*), count(*) FILTER (WHERE before::text = 'null') FROM change")
            ).one()
    finally:
        db.dispose()
    assert [vm["hostname"] for vm in exported["vms"]] == sorted(
        vm["hostname"] for vm in fleet["vms"]
    )
    assert exported["vms"][0]["interfaces"][0]["addresses"]
    # one change per created row; a create's "before" is JSON null, as the ORM writes it
    assert changes[0] > len(fleet["vms"]) and changes[1] == changes[0]
