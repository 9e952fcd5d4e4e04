"""The schema comes only from Alembic, and sql/schema.sql is what Alembic generates."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from tests.support.paths import REPO
from virtapi import migrate
from virtapi.models import Base


def test_schema_sql_is_generated_from_migrations() -> None:
    expected = migrate.offline_sql()
    actual = (REPO / "sql" / "schema.sql").read_text()
    assert actual == expected, "sql/schema.sql is stale: run `virtapi db schema > sql/schema.sql`"


def test_models_match_migrations(db_url: str) -> None:
    """A model change without a migration shows up here as a difference."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_downgrade_upgrade_on_empty_database(db_url: str) -> None:
    # db_url starts migrated; go down to nothing and back up.
    engine = create_engine(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()
    engine = create_engine(db_url)
    with engine.connect() as conn:
        states = conn.execute(text("SELECT name FROM node_state ORDER BY name")).scalars().all()
        methods = conn.execute(text("SELECT name FROM virt_method")).scalars().all()
        caches = conn.execute(text("SELECT name FROM cache_option")).scalars().all()
    engine.dispose()
    assert states == ["maintenance", "offline", "repair", "running"]
    assert {"kvm", "qemu", "systemd-nspawn", "docker"} <= set(methods)
    assert set(caches) == {"default", "none", "writethrough", "writeback", "directsync", "unsafe"}


def test_sqlite_never_reuses_a_deleted_id(tmp_path: Path) -> None:
    """One change history, one object: a new row never gets the id of a deleted one."""
    url = f"sqlite:///{tmp_path / 'ids.sqlite'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        insert = "INSERT INTO ceph_pool (name, description) VALUES (:n, '')"
        conn.execute(text(insert), {"n": "a"})
        first = conn.execute(text("SELECT max(id) FROM ceph_pool")).scalar_one()
        conn.execute(text("DELETE FROM ceph_pool WHERE id = :i"), {"i": first})
        conn.execute(text(insert), {"n": "b"})
        second = conn.execute(text("SELECT max(id) FROM ceph_pool")).scalar_one()
        # Every table keyed by an integer id, those of later migrations included (a batch
        # rebuild that forgot AUTOINCREMENT would reuse ids again).
        created = dict(
            conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
        )
        plain = [
            table.name
            for table in Base.metadata.tables.values()
            if table.dialect_options["sqlite"].get("autoincrement")
            and "AUTOINCREMENT" not in created[table.name]
        ]
    engine.dispose()
    assert second > first
    assert plain == []


def test_sqlite_rebuild_keeps_rows_constraints_and_indexes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rebuild.sqlite'}"
    migrate.upgrade(url, "0003")
    engine = create_engine(url)

    def schema() -> dict[str, str]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
            return {name: sql for name, sql in rows if not name.startswith("sqlite_autoindex")}

    def rows() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM vm_state")).scalar_one()

    indexes, states = schema(), rows()
    migrate.upgrade(url)
    after = schema()
    assert {k: after.get(k) for k in indexes} == indexes and rows() == states
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    migrate.downgrade(url, "0003")
    assert schema() == indexes and rows() == states
    engine.dispose()
