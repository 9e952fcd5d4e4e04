"""The change feed's consumers against a live virtapi: `virtapi feed` (Puppet users) and
the Salt engine on a real salt-master's event bus (issue 12, point 4)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
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
OTHER_VM = "web1.c1001.example.net"  # on hv01: its changes concern neither hv03 nor app2
# Each salt-master/salt-minion wait: a loaded 2-core machine starts them in 10-40 s.
SALT_WAIT = 90


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


def _bump_vm(server: LiveServer, delta: int, hostname: str = VM) -> None:
    vm = _call(server, "GET", f"/api/v1/vms?hostname={hostname}")["results"][0]
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


@contextlib.contextmanager
def _running_master(
    live_server: LiveServer,
    confdir: Path,
    cursor: Path,
    extra: Callable[[Path], dict[str, Any]] | None = None,
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A salt-master on loopback running our engine against `live_server`, plus the master
    options `extra(root)` gives; yields its root (short: Salt's unix sockets live under it,
    and AF_UNIX paths are limited to 107 bytes) and its options, once the engine saved its
    first cursor. Skips (fails in CI) only if salt-master cannot start here."""
    master = _salt_tool("salt-master")
    root = Path(tempfile.mkdtemp(prefix="vsm", dir="/tmp"))
    engines = root / "ext" / "engines"
    engines.mkdir(parents=True)
    (engines / "virtapi.py").write_text((REPO / "salt/_engines/virtapi.py").read_text())
    confdir.mkdir(exist_ok=True)
    opts = {
        "root_dir": str(root),
        "user": "root",
        "interface": "127.0.0.1",
        "publish_port": free_port(),
        "ret_port": free_port(),
        "worker_threads": 2,
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
        **(extra(root) if extra else {}),
    }
    (confdir / "master").write_text(json.dumps(opts))
    proc = subprocess.Popen(
        [master, "-c", str(confdir), "-l", "quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + SALT_WAIT
        while not cursor.exists():  # the engine's first poll saves the current cursor
            log = root / "master.log"
            tail = log.read_text()[-3000:] if log.exists() else "(no log)"
            if proc.poll() is not None:
                skip_or_fail(f"salt-master cannot start on this machine: {tail}")
            assert time.monotonic() < deadline, f"engine saved no cursor in {SALT_WAIT} s: {tail}"
            time.sleep(0.5)
        yield root, opts
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def salt_master(live_server: LiveServer, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    confdir, cursor = tmp_path / "conf", tmp_path / "virtapi.cursor"
    with _running_master(live_server, confdir, cursor):
        yield confdir, cursor


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


# --- master + minion: the example reactor converges just the affected minion --------------------

MARKER_STATE = """
virtapi_marker:
  cmd.run:
    - name: echo {{{{ grains['id'] }}}} >> {applied}
"""


def _converging_master(root: Path) -> dict[str, Any]:
    """Reactor (the repo's example, unchanged) and a highstate that appends the minion's id
    to ``<root>/applied`` each time it runs."""
    states = root / "states"
    states.mkdir()
    (states / "top.sls").write_text("base:\n  '*':\n    - marker\n")
    (states / "marker.sls").write_text(MARKER_STATE.format(applied=root / "applied"))
    reactor = root / "reactor" / "virtapi-converge.sls"
    reactor.parent.mkdir()
    shutil.copy(REPO / "salt/reactor/virtapi-converge.sls", reactor)
    return {
        "auto_accept": True,
        "file_roots": {"base": [str(states)]},
        "reactor": [{"virtapi/node/changed": [str(reactor)]}],
    }


def _start_minion(root: Path, opts: dict[str, Any], minion_id: str) -> subprocess.Popen:
    confdir = root / "mc"
    confdir.mkdir()
    (confdir / "minion").write_text(
        json.dumps(
            {
                "id": minion_id,
                "master": "127.0.0.1",
                "master_port": opts["ret_port"],
                "publish_port": opts["publish_port"],
                "root_dir": str(root / "m"),
                "user": "root",
                "log_file": str(root / "minion.log"),
                "log_level_logfile": "info",
                "acceptance_wait_time": 1,
                "grains_cache": True,
            }
        )
    )
    return subprocess.Popen(
        [_salt_tool("salt-minion"), "-c", str(confdir), "-l", "quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(what: str, check: Callable[[], bool], seconds: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
            pytest.fail(f"{what} within {seconds:g} s\n{tails}")
        time.sleep(0.5)


def test_reactor_applies_the_state_on_the_affected_minion_only(
    live_server: LiveServer, tmp_path: Path
) -> None:
    cursor = tmp_path / "virtapi.cursor"
    with _running_master(live_server, tmp_path / "conf", cursor, _converging_master) as (
        root,
        opts,
    ):
        applied, logs = root / "applied", [root / "master.log", root / "minion.log"]
        minion = _start_minion(root, opts, HV)
        salt = _salt_tool("salt")
        try:

            def answers() -> bool:
                ping = subprocess.run(
                    [salt, "-c", str(tmp_path / "conf"), HV, "test.ping", "-t", "5", "--out=json"],
                    capture_output=True, text=True, timeout=60, check=False,
                )  # fmt: skip
                return '"' + HV + '": true' in ping.stdout

            _wait_for(f"minion {HV} answered no test.ping", answers, SALT_WAIT, logs)
            assert not applied.exists()

            # A change concerning other hosts only: the engine passes it (its cursor moves
            # past it), the reactor targets minions that are not there, nothing applies here.
            _bump_vm(live_server, 1, OTHER_VM)
            head = int(_call(live_server, "GET", "/api/v1/feed")["cursor"])
            _wait_for(
                "the engine did not pass the unaffected change",
                lambda: int(cursor.read_text().strip() or 0) >= head,
                SALT_WAIT,
                logs,
            )
            time.sleep(5)  # what the reactor would have done by now
            assert not applied.exists(), applied.read_text()

            # A change to a VM on this minion's hypervisor: the minion converges, once.
            _bump_vm(live_server, 1)
            _wait_for("the affected minion applied no state", applied.exists, SALT_WAIT, logs)
            time.sleep(5)  # a second apply (e.g. per event twice) would land by now
            assert applied.read_text().split() == [HV]
        finally:
            minion.terminate()
            minion.wait(timeout=60)
            _bump_vm(live_server, -1, OTHER_VM)
            _bump_vm(live_server, -1)
