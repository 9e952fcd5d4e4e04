"""The schema comes only from Alembic, and sql/schema.sql is what Alembic generates."""

from __future__ import annotations

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
