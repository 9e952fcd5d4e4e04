"""Salt against a live virtapi: our ext_pillar module and the states.

The module is first called directly (it only needs the standard library), then through
a real masterless `salt-call`, which skips without Salt unless
VIRTAPI_REQUIRE_INTEGRATION=1 turns the skip into a failure.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import subprocess
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.conftest import skip_or_fail
from tests.integration.conftest import find_tool
from tests.support.paths import REPO
from tests.support.server import Server as LiveServer
from tests.support.server import Server as TlsServer

pytestmark = pytest.mark.integration

MODULE = REPO / "salt" / "_pillar" / "virtapi.py"
STATES = REPO / "salt" / "states"
HV01 = "hv01.dc1.example.com"
CEPH01 = "ceph01.dc1.example.com"
WEB1 = "web1.c1001.example.net"
WEB1_UUID = "6e48e357-d408-55d0-b763-049c736ee621"


# --- the ext_pillar module, called as Salt's loader would ---------------------------------


@pytest.fixture
def ext_pillar_module(tmp_path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("virtapi_ext_pillar_under_test", MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__opts__ = {"cachedir": str(tmp_path / "salt-cache")}  # the loader injects this
    return module


def test_ext_pillar_returns_the_node_document(
    ext_pillar_module: ModuleType, live_server: LiveServer, token_file: Path, tmp_path: Path
) -> None:
    pillar = ext_pillar_module.ext_pillar(
        HV01, {}, url=live_server.url, token_file=str(token_file), timeout=5, unknown_key=1
    )
    assert set(pillar) == {"virtapi"}
    assert {vm["uuid"] for vm in pillar["virtapi"]["hypervisor"]["vms"]} >= {WEB1_UUID}
    # Default cache location: Salt's cachedir.
    assert (tmp_path / "salt-cache" / "virtapi" / f"{HV01}.json").exists()


def test_ext_pillar_unknown_minion_is_empty_not_none(
    ext_pillar_module: ModuleType,
    live_server: LiveServer,
    token_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        pillar = ext_pillar_module.ext_pillar(
            "gone.example.com", {}, url=live_server.url, token_file=str(token_file)
        )
    assert pillar == {}
    assert "does not know minion gone.example.com" in caplog.text


def test_ext_pillar_serves_last_good_copy_when_virtapi_is_down(
    ext_pillar_module: ModuleType,
    live_server: LiveServer,
    token_file: Path,
    tmp_path: Path,
    dead_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_dir = str(tmp_path / "pillar-cache")
    fresh = ext_pillar_module.ext_pillar(
        CEPH01, {}, url=live_server.url, token=live_server.reader_token, cache_dir=cache_dir
    )
    assert fresh["virtapi"]["ceph"]["mon_host"]
    with caplog.at_level(logging.WARNING):
        stale = ext_pillar_module.ext_pillar(
            CEPH01, {}, url=dead_url, token=live_server.reader_token, cache_dir=cache_dir
        )
    assert stale == fresh
    assert "last-good pillar" in caplog.text
    # Nothing cached for this minion: an empty pillar, never None.
    assert (
        ext_pillar_module.ext_pillar(HV01, {}, url=dead_url, token="x", cache_dir=cache_dir) == {}
    )


def test_ext_pillar_revalidates_with_etag(
    ext_pillar_module: ModuleType, live_server: LiveServer, tmp_path: Path
) -> None:
    kwargs = {"url": live_server.url, "token": live_server.reader_token, "cache_dir": tmp_path}
    first = ext_pillar_module.ext_pillar(WEB1, {}, **kwargs)
    offset = live_server.log_offset()
    second = ext_pillar_module.ext_pillar(WEB1, {}, **kwargs)
    assert second == first and first["virtapi"]["kind"] == "vm"
    lines = live_server.requests_since(offset, f"/pillar/{WEB1}")
    assert lines and all('" 304' in line for line in lines), lines


def test_ext_pillar_timeout(
    ext_pillar_module: ModuleType, live_server: LiveServer, tmp_path: Path, blackhole: str
) -> None:
    started = time.monotonic()
    result = ext_pillar_module.ext_pillar(
        HV01, {}, url=blackhole, token="x", timeout=1, cache_dir=tmp_path
    )
    assert result == {}
    assert time.monotonic() - started < 4


def test_ext_pillar_wrong_token(
    ext_pillar_module: ModuleType, live_server: LiveServer, tmp_path: Path
) -> None:
    assert ext_pillar_module.ext_pillar(HV01, {}, url=live_server.url, token="va_wrong") == {}


def test_ext_pillar_verifies_tls(
    ext_pillar_module: ModuleType, live_tls_server: TlsServer, live_server: LiveServer
) -> None:
    kwargs = {"url": live_tls_server.url, "token": live_server.reader_token}
    assert ext_pillar_module.ext_pillar(HV01, {}, **kwargs) == {}
    trusted = ext_pillar_module.ext_pillar(HV01, {}, ca_file=str(live_tls_server.ca_file), **kwargs)
    assert trusted["virtapi"]["certname"] == HV01


# --- real salt-call ---------------------------------------------------------------------------


class Minion:
    """A masterless minion whose pillar comes from virtapi through our ext_pillar."""

    def __init__(
        self, base: Path, salt_call: str, minion_id: str, url: str, token_file: Path
    ) -> None:
        self.salt_call = salt_call
        self.confdir = base / "conf"
        self.confdir.mkdir(parents=True)
        root_dir = base / "root"
        ext = root_dir / "ext" / "pillar"
        ext.mkdir(parents=True)
        (ext / "virtapi.py").symlink_to(MODULE)
        self.out = base / "out"
        self.config = {
            "id": minion_id,
            "file_client": "local",
            "root_dir": str(root_dir),
            # Must lie inside root_dir, or Salt prefixes root_dir to it.
            "extension_modules": str(root_dir / "ext"),
            "ext_pillar": [{"virtapi": {"url": url, "token_file": str(token_file), "timeout": 5}}],
            "pillar_mask_output": False,
            "file_roots": {"base": [str(STATES)]},
            "virtapi_root": str(self.out),
            "log_level_logfile": "warning",
        }
        self.write()
        self.cache_dir = root_dir / "var" / "cache" / "salt" / "minion" / "virtapi"

    def write(self) -> None:
        (self.confdir / "minion").write_text(yaml.safe_dump(self.config))

    def call(self, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
        result = subprocess.run(
            [self.salt_call, "--local", f"--config-dir={self.confdir}", *args, "--out=json"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        try:
            data = json.loads(result.stdout)["local"]
        except (ValueError, KeyError):
            data = None
        return result, data


@pytest.fixture
def minion_factory(
    tmp_path: Path, salt_call: str, live_server: LiveServer, token_file: Path
) -> Any:
    def make(minion_id: str, url: str | None = None) -> Minion:
        return Minion(
            tmp_path / minion_id, salt_call, minion_id, url or live_server.url, token_file
        )

    return make


def test_salt_call_pillar_items(minion_factory: Any) -> None:
    minion = minion_factory(HV01)
    result, pillar = minion.call("pillar.items")
    assert result.returncode == 0, result.stderr
    doc = pillar["virtapi"]
    assert doc["certname"] == HV01 and doc["roles"] == ["hypervisor"]
    assert {vm["hostname"] for vm in doc["hypervisor"]["vms"]} == {
        WEB1,
        "db1.c1001.example.net",
    }
    assert (minion.cache_dir / f"{HV01}.json").exists()


def test_salt_call_unknown_minion_gets_no_virtapi_pillar(minion_factory: Any) -> None:
    result, pillar = minion_factory("gone.example.com").call("pillar.items")
    assert result.returncode == 0, result.stderr
    assert "virtapi" not in pillar


def test_salt_call_pillar_from_cache_when_virtapi_is_down(
    minion_factory: Any, dead_url: str
) -> None:
    minion = minion_factory(CEPH01)
    _, fresh = minion.call("pillar.items")
    minion.config["ext_pillar"][0]["virtapi"]["url"] = dead_url
    minion.write()
    result, stale = minion.call("pillar.items")
    assert result.returncode == 0, result.stderr
    assert stale["virtapi"] == fresh["virtapi"]


def test_salt_state_apply_test_mode_renders(minion_factory: Any) -> None:
    minion = minion_factory(HV01)
    result, states = minion.call("state.apply", "virtapi", "test=True")
    assert result.returncode == 0, result.stdout + result.stderr
    assert isinstance(states, dict), states  # a render error comes back as a list of strings
    names = {state["name"] for state in states.values()}
    assert str(minion.out / "etc/virtapi/libvirt" / f"{WEB1_UUID}.xml") in names
    assert str(minion.out / "etc/systemd/network/40-virtapi-vx10001.netdev") in names
    # test=True changes nothing on disk.
    assert not minion.out.exists()


def test_salt_state_apply_writes_the_files(minion_factory: Any) -> None:
    minion = minion_factory(HV01)
    result, states = minion.call("state.apply", "virtapi")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(state["result"] for state in states.values()), states
    domain = (minion.out / "etc/virtapi/libvirt" / f"{WEB1_UUID}.xml").read_text()
    assert f"<uuid>{WEB1_UUID}</uuid>" in domain
    assert "<mac address='52:54:00:00:e9:01'/>" in domain
    vxlan = (minion.out / "etc/systemd/network/40-virtapi-vx10001.netdev").read_text()
    assert "VNI=10001" in vxlan
    ceph = minion_factory(CEPH01)
    result, _ = ceph.call("state.apply", "virtapi")
    assert result.returncode == 0, result.stdout + result.stderr
    conf = (ceph.out / "etc/ceph/ceph.conf").read_text()
    assert "mon_host = 10.20.0.21:6789,10.20.0.22:6789,10.20.0.23:6789" in conf


def _content_lines(root: Path) -> dict[str, list[str]]:
    """Every file below root with comment lines dropped (they name the tool)."""
    return {
        str(path.relative_to(root)): [
            line
            for line in path.read_text().splitlines()
            if not line.startswith("#") and not line.lstrip().startswith("<!--")
        ]
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("certname", [HV01, "hv02.dc1.example.com", CEPH01, WEB1])
def test_salt_and_puppet_build_the_same_files(
    minion_factory: Any, certname: str, tmp_path: Path, live_server: LiveServer, token_file: Path
) -> None:
    """One document, two tools, identical configuration: the module and the states are
    kept in step by this test."""
    from tests.integration.test_puppet import PuppetSite

    puppet = find_tool("puppet", "/opt/puppetlabs/bin/puppet")
    if puppet is None:
        skip_or_fail("puppet is not installed")
    minion = minion_factory(certname)
    result, _ = minion.call("state.apply", "virtapi")
    assert result.returncode == 0, result.stdout + result.stderr
    site = PuppetSite(tmp_path / "puppet", live_server, token_file, puppet)  # type: ignore[arg-type]
    applied = site.run("apply", "--certname", certname, "-e", "", "--detailed-exitcodes")
    assert applied.returncode in (0, 2), applied.stdout + applied.stderr
    salt_files = _content_lines(minion.out)
    puppet_files = _content_lines(site.root)
    assert salt_files, "salt wrote nothing"
    assert sorted(salt_files) == sorted(puppet_files)
    for name, lines in salt_files.items():
        diff = "\n".join(difflib.unified_diff(lines, puppet_files[name], "salt", "puppet"))
        assert not diff, f"{name} differs:\n{diff}"
