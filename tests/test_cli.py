"""The `virtapi` command, run as a user runs it: a subprocess with the environment as config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from virtapi.models import ApiToken, Node, Vm


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtapi", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=check,
    )


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"VIRTAPI_DATABASE_URL": db_url, "VIRTAPI_INSTANCE_PATH": str(tmp_path)}


def test_db_current_downgrade_upgrade(env: dict[str, str]) -> None:
    assert run(env, "db", "current").stdout.strip() == "0001"
    assert "base" in run(env, "db", "downgrade").stdout
    assert "base" in run(env, "db", "current").stdout
    assert "0001" in run(env, "db", "upgrade").stdout


def test_token_create_list_revoke(env: dict[str, str], db_url: str) -> None:
    created = run(
        env, "token", "create", "--role", "customer", "--customer-id", "7", "--name", "c7"
    )
    plaintext = created.stdout.strip()
    assert plaintext.startswith("va_") and len(plaintext) > 40
    assert "not shown again" in created.stderr
    listing = run(env, "token", "list").stdout
    assert "customer\t7\tactive" in listing and plaintext not in listing
    engine = create_engine(db_url)
    with Session(engine) as s:
        row = s.scalars(select(ApiToken)).one()
        assert row.token_hash != plaintext and plaintext not in row.token_hash
    engine.dispose()
    run(env, "token", "revoke", str(row.id))
    assert "revoked" in run(env, "token", "list").stdout
    bad = run(env, "token", "create", "--role", "customer", check=False)
    assert bad.returncode != 0 and "customer-id" in bad.stderr
    assert run(env, "token", "revoke", "999", check=False).returncode != 0


def test_demo_loads_fleet_once(env: dict[str, str], db_url: str) -> None:
    out = run(env, "demo").stdout
    assert "admin token: va_" in out and "customer 1001 token: va_" in out
    engine = create_engine(db_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Node)) == 6
        customers = set(s.scalars(select(Vm.customer_id)))
        assert customers == {1001, 1002}
    engine.dispose()
    again = run(env, "demo", check=False)
    assert again.returncode != 0 and "empty" in again.stderr


def test_embedded_default_database_is_created_in_instance_folder(tmp_path: Path) -> None:
    env = {"VIRTAPI_INSTANCE_PATH": str(tmp_path / "inst")}
    env_clean = {k: v for k, v in os.environ.items() if not k.startswith("VIRTAPI_DATABASE")}
    result = subprocess.run(
        [sys.executable, "-m", "virtapi", "demo"],
        env={**env_clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo fleet loaded" in result.stdout
    assert (tmp_path / "inst" / "virtapi.sqlite").exists()
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0
