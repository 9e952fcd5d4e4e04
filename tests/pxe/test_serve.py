"""The install cycle against a real `virtapi serve` (gunicorn) over real HTTP, as a live
installer would drive it with curl; the access log must not contain the install secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.installs import WEB1_MAC, WEB1_UUID, ed25519_key
from tests.support.pg import free_port
from tests.support.server import wait_until_up


def _call(url: str, method: str = "GET", token: str | None = None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if isinstance(body, dict) and token:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif isinstance(body, dict):
        data = urllib.parse.urlencode(body).encode()  # form-encoded, like `curl -d`
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_install_cycle_against_served_app(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VIRTAPI_INSTANCE_PATH": str(tmp_path / "inst"),
        "VIRTAPI_PXE_ALLOWED_NETWORKS": "127.0.0.0/8",
        "PYTHONUNBUFFERED": "1",  # the admin token is read while the server runs
    }
    env.pop("VIRTAPI_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtapi", "serve", "--demo", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_up(base, proc, timeout=30)
        token = _admin_token(proc)

        status, body = _call(
            f"{base}/api/v1/vms/{WEB1_UUID}/install",
            "POST",
            token,
            {"image": "debian-12", "ssh_keys": [ed25519_key("served")]},
        )
        assert status == 201, body
        # Without the machine's SMBIOS UUID the MAC alone gets the local-boot script.
        status, script = _call(f"{base}/pxe/{WEB1_MAC}")
        assert status == 200 and "sanboot" in script and "installimage" not in script
        status, script = _call(f"{base}/pxe/{WEB1_MAC}?uuid={str(WEB1_UUID).upper()}")
        assert status == 200 and script.startswith("#!ipxe\n")
        config_url = re.search(r" installimage=(\S+) ", script).group(1)  # type: ignore[union-attr]
        assert config_url.startswith(f"{base}/installimage/{WEB1_MAC}/")
        secret = config_url.rsplit("/", 1)[1]

        status, config = _call(config_url)
        assert status == 200 and "HOSTNAME web1.c1001.example.net" in config
        assert _call(config_url + "/status", "POST", body={"phase": "x", "percent": "50"})[0] == 200
        assert _call(config_url + "/done", "POST", body={})[0] == 200
        status, script = _call(f"{base}/pxe/{WEB1_MAC}?uuid={WEB1_UUID}")
        assert "sanboot" in script and secret not in script
        assert _call(config_url)[0] == 404
        status, body = _call(f"{base}/api/v1/vms/{WEB1_UUID}/install", token=token)
        assert json.loads(body)["state"] == "done"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"/installimage/{WEB1_MAC}/[secret]" in out  # the access log saw the requests …
    assert secret not in out  # … but never the secret


def _admin_token(proc: subprocess.Popen[str]) -> str:
    """The demo's admin token, printed once at start-up before the server logs."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, "no admin token printed"
        if line.startswith("admin token"):
            return line.split()[-1]
