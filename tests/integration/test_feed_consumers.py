"""The change feed's consumers against a live virtapi: `virtapi feed` (Puppet users) and
the Salt engine on a real salt-master's event bus (issue 12, point 4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.integration.conftest import find_tool
from tests.support.paths import REPO
from tests.support.pg import free_port
from tests.support.server import Server as LiveServer

pytestmark = pytest.mark.integration

VM = "app2.c1002.example.net"  # on hv03
HV = "hv03.dc1.example.com"
UNAFFECTED = "hv02.dc1.example.com"


def _call(server: LiveServer, method: str, path: str, body: Any = None) -> Any:
    token = server.tokens.get("operator") or server.tokens["admin"]
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read() or b"null")


def _bump_vm(server: LiveServer, delta: int) -> None:
    vm = _call(server, "GET", f"/api/v1/vms?hostname={VM}")["results"][0]
    _call(server, "PATCH", f"/api/v1/vms/{vm['id']}", {"cores": vm["cores"] + delta})


def _feed_cli(server: LiveServer, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "virtapi.cli", "feed", "--url", server.url, *args],
        env={**os.environ, "VIRTAPI_TOKEN": server.reader_token, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_feed_cli_prints_affected_hosts_and_keeps_its_cursor(
    live_server: LiveServer, tmp_path: Path
) -> None:
    cursor = tmp_path / "cursor"
    first = _feed_cli(live_server, "--cursor-file", str(cursor))
    assert first.returncode == 0 and first.stdout == "", first.stderr
    assert cursor.read_text().strip().isdigit()
    _bump_vm(live_server, 1)
    try:
        second = _feed_cli(live_server, "--cursor-file", str(cursor), "--wait", "1")
        assert second.returncode == 0, second.stderr
        assert second.stdout.splitlines() == sorted([HV, VM])
        third = _feed_cli(live_server, "--cursor-file", str(cursor), "--wait", "0.5")
        assert third.stdout == ""
    finally:
        _bump_vm(live_server, -1)
    # A cursor the feed does not know: warn, resync from now, exit cleanly.
    cursor.write_text("999999999\n")
    resync = _feed_cli(live_server, "--cursor-file", str(cursor), "--wait", "0")
    assert resync.returncode == 0 and "resync" in resync.stderr
    assert cursor.read_text().strip() != "999999999"


def test_feed_cli_follow_streams_certnames(live_server: LiveServer, tmp_path: Path) -> None:
    cursor = tmp_path / "cursor"
    assert _feed_cli(live_server, "--cursor-file", str(cursor)).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtapi.cli", "feed", "--url", live_server.url,
         "--cursor-file", str(cursor), "--wait", "5", "--follow"],
        env={**os.environ, "VIRTAPI_TOKEN": live_server.reader_token, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1)
        _bump_vm(live_server, 1)
        lines = [proc.stdout.readline().strip() for _ in range(2)]  # type: ignore[union-attr]
        assert sorted(lines) == sorted([HV, VM])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        _bump_vm(live_server, -1)


# --- the Salt engine on a real master ------------------------------------------------------------


def _salt_tool(name: str) -> str:
    found = find_tool(name, f"/opt/venv-salt/bin/{name}", str(REPO / f".venv-salt/bin/{name}"))
    if found is None:
        skip_or_fail(f"{name} is not installed (pip install salt==3008.3 into a virtualenv)")
    return found  # type: ignore[return-value]


@pytest.fixture
def salt_master(live_server: LiveServer, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    master = _salt_tool("salt-master")
    # Short: Salt's unix sockets live under it, and AF_UNIX paths are limited to 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="vsm", dir="/tmp"))
    engines = root / "ext" / "engines"
    engines.mkdir(parents=True)
    (engines / "virtapi.py").write_text((REPO / "salt/_engines/virtapi.py").read_text())
    confdir = tmp_path / "conf"
    confdir.mkdir()
    cursor = tmp_path / "virtapi.cursor"
    (confdir / "master").write_text(
        json.dumps(
            {
                "root_dir": str(root),
                "user": "root",
                "interface": "127.0.0.1",
                "publish_port": free_port(),
                "ret_port": free_port(),
                "extension_modules": str(root / "ext"),
                "log_file": str(root / "master.log"),
                "log_level_logfile": "info",
                "engines": [
                    {
                        "virtapi": {
                            "url": live_server.url,
                            "token": live_server.reader_token,
                            "cursor_file": str(cursor),
                            "wait": 5,
                        }
                    }
                ],
            }
        )
    )
    proc = subprocess.Popen(
        [master, "-c", str(confdir), "-l", "quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not cursor.exists():  # the engine's first poll saves the current cursor
            assert proc.poll() is None, (root / "master.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (root / "master.log").read_text()[-3000:]
            time.sleep(0.5)
        yield confdir, cursor
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


# Runs in Salt's interpreter: subscribes to the master's event bus, says READY, then prints
# the data of every virtapi/node/changed event for `seconds`.
LISTENER = """
import json, sys, time
import salt.config, salt.utils.event
opts = salt.config.client_config(sys.argv[1])
with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True) as bus:
    bus.subscribe("virtapi/")
    print("READY", flush=True)
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        event = bus.get_event(wait=1, tag="virtapi/node/changed", full=True)
        if event:
            print(json.dumps(event["data"]), flush=True)
"""


def test_salt_engine_fires_an_event_for_the_affected_hypervisor_only(
    live_server: LiveServer, salt_master: tuple[Path, Path]
) -> None:
    confdir, cursor = salt_master
    python = str(Path(_salt_tool("salt-run")).with_name("python3"))
    listener = subprocess.Popen(
        [python, "-c", LISTENER, str(confdir / "master"), "40"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ids: set[str] = set()
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "READY", listener.stderr
        _bump_vm(live_server, 1)
        for line in listener.stdout:
            ids.add(json.loads(line)["id"])
        listener.wait(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
        _bump_vm(live_server, -1)
    # Every event of the 40 s window: the VM and its hypervisor, nothing for other hosts.
    assert ids == {HV, VM}
    assert UNAFFECTED not in ids
    assert cursor.read_text().strip().isdigit()
