"""The `virtapi` command, run as a user runs it: a subprocess with the environment as config."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from tests.api.helpers import H
from tests.support.ceph import cephx_key, with_secret_key
from tests.support.pg import free_port
from tests.support.server import self_signed_cert, wait_until_up
from virtapi import migrate
from virtapi.config import override
from virtapi.models import ApiToken, CephClient, Node, Vm
from virtapi.services import secretbox, tokens


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
    head = migrate.head()
    assert run(env, "db", "current").stdout.strip() == head
    assert "base" in run(env, "db", "downgrade").stdout
    assert "base" in run(env, "db", "current").stdout
    assert head in run(env, "db", "upgrade").stdout


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
    assert bad.returncode != 0 and "customer id" in bad.stderr
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


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "virtapi", "serve", "--demo", "--bind", f"127.0.0.1:{port}"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(port: int, proc: subprocess.Popen[str]) -> None:
    wait_until_up(f"http://127.0.0.1:{port}", proc, timeout=30)


def test_serve_demo_on_embedded_database_twice(tmp_path: Path) -> None:
    """The README's first command: a fresh instance folder, demo data, a working admin token."""
    env = {"VIRTAPI_INSTANCE_PATH": str(tmp_path / "inst")}
    port = free_port()
    proc = _serve(env, port)
    try:
        _wait_healthy(port, proc)
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    admin = next(line.split()[-1] for line in out.splitlines() if line.startswith("admin token"))
    # Second start on the same database: serves without loading the demo twice.
    proc = _serve(env, port)
    try:
        _wait_healthy(port, proc)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/whoami", headers={"Authorization": f"Bearer {admin}"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.load(r)["role"] == "admin"
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "demo data not loaded" in out
    assert admin not in out  # the token is never printed or logged again


def test_serve_with_tls(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    port = free_port()
    env = {**os.environ, "VIRTAPI_INSTANCE_PATH": str(tmp_path / "inst")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtapi", "serve", "--bind", f"127.0.0.1:{port}",
         "--certfile", str(cert), "--keyfile", str(key)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_up(f"https://127.0.0.1:{port}", proc, timeout=30, ca_file=cert)
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx) as r:
            assert json.load(r) == {"status": "ok"}
        # Plain HTTP is not served on a TLS port.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_host_groups_and_explain(env: dict[str, str]) -> None:
    """Issue 18: create, list and show groups, explain a key, through the same service."""
    run(env, "demo")
    hv = "hv01.dc1.example.com"
    made = run(
        env, "host-groups", "create", "base", "--data", '{"ntp::servers": ["ntp1"]}',
        "--member", hv,
    )  # fmt: skip
    assert "host group base created" in made.stdout and "depth 0" in made.stdout
    run(env, "host-groups", "create", "web", "--parent", "base",
        "--classes", '{"profile::motd": {"message": "hi"}}', "--member", hv)  # fmt: skip
    listed = run(env, "host-groups", "list").stdout.splitlines()
    assert [line.split("\t")[2] for line in listed] == ["base", "web (in base)"]
    shown = json.loads(run(env, "host-groups", "show", "web").stdout)
    assert shown["parent"] == "base" and shown["members"] == [hv] and shown["depth"] == 1
    text = run(env, "explain", hv, "profile::motd::message").stdout
    assert '* group web (depth 1): "hi"' in text and '= "hi"' in text
    everything = run(env, "explain", hv).stdout
    assert "class profile::motd: assigned (group web (depth 1))" in everything
    assert "ntp::servers:" in everything
    bad = run(env, "host-groups", "create", "bad", "--data", '{"Bad": 1}', check=False)
    assert bad.returncode == 1 and "Hiera key" in bad.stderr
    unknown = run(env, "explain", "nobody.example.com", check=False)
    assert unknown.returncode == 1 and "nobody.example.com" in unknown.stderr


def test_secrets_rotate_key(env: dict[str, str], app: Any, demo: Any, tmp_path: Path) -> None:
    old_file = with_secret_key(app, tmp_path / "old")
    with app.extensions["virtapi.db"].session() as s:
        _, secret_token = tokens.create_token(s, "operator", name="ceph", secrets_scope=True)
    http = app.test_client()
    cluster = {"name": "main", "fsid": "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11"}
    assert (
        http.post("/api/v1/ceph-clusters", json=cluster, headers=H(secret_token)).status_code == 201
    )
    keys = [cephx_key(), cephx_key()]
    for name, key in zip(("libvirt", "backup"), keys, strict=True):
        body = {"ceph_cluster": "main", "name": name, "key": key, "is_default": name == "libvirt"}
        assert (
            http.post("/api/v1/ceph-clients", json=body, headers=H(secret_token)).status_code == 201
        )
    fqdn = "hv01.dc1.example.com"
    node = http.get(f"/api/v1/nodes?fqdn={fqdn}", headers=H(secret_token)).get_json()["results"][0]
    patched = http.patch(
        f"/api/v1/nodes/{node['id']}", json={"ceph_cluster": "main"}, headers=H(secret_token)
    )
    assert patched.status_code == 200

    def served_key() -> str:
        resp = http.get(f"/pillar/{fqdn}", headers=H(secret_token))
        return resp.get_json()["virtapi"]["hypervisor"]["ceph_client"]["key"]

    def stored() -> list[str]:
        with app.extensions["virtapi.db"].session() as s:
            return list(s.scalars(select(CephClient.key_encrypted).order_by(CephClient.id)))

    assert served_key() == keys[0]
    before = stored()
    new_file = tmp_path / "new.key"
    new_file.write_text(secretbox.new_key_text())
    wrong = tmp_path / "wrong.key"
    wrong.write_text(secretbox.new_key_text())

    # A key that opens nothing: refused, nothing written, no secret printed.
    refused = run(env, "secrets", "rotate-key", str(new_file), "--old-key-file", str(wrong),
                  check=False)  # fmt: skip
    assert refused.returncode != 0, refused.stderr
    assert "old key opens no stored key of 2" in refused.stderr, refused.stderr[-2500:]
    assert "client.libvirt" in refused.stderr
    assert stored() == before
    # No old key at all, and a new key that is the old one: refused too.
    assert "VIRTAPI_SECRET_KEY_FILE" in run(env, "secrets", "rotate-key", str(new_file),
                                            check=False).stderr  # fmt: skip
    same = run({**env, "VIRTAPI_SECRET_KEY_FILE": str(old_file)}, "secrets", "rotate-key",
               str(old_file), check=False)  # fmt: skip
    assert same.returncode != 0 and stored() == before

    env = {**env, "VIRTAPI_SECRET_KEY_FILE": str(old_file)}
    done = run(env, "secrets", "rotate-key", str(new_file))
    assert done.stdout.startswith("2 secret(s) re-encrypted")
    for key in keys:
        assert key not in done.stdout + done.stderr
    after = stored()
    assert all(a != b and a.startswith("v1:") for a, b in zip(after, before, strict=True))
    # The old key no longer opens them; the documents (with the new key) carry the same keys.
    override(app, secret_key_file=str(new_file))
    assert served_key() == keys[0]
    box = secretbox.box_for(str(new_file))
    with app.extensions["virtapi.db"].session() as s:
        uuids = list(s.scalars(select(CephClient.secret_uuid).order_by(CephClient.id)))
    assert [box.decrypt(a, str(u)) for a, u in zip(after, uuids, strict=True)] == keys
    # Run again (hosts switched late): nothing left under the old key, nothing rewritten.
    again = run(env, "secrets", "rotate-key", str(new_file))
    assert again.stdout.startswith("0 secret(s) re-encrypted") and "2 already" in again.stdout
    assert stored() == after
