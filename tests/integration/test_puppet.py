"""Puppet against a live virtapi: the ENC script, the Hiera 5 backend and the module.

The ENC script tests need only Python and the live server; the others run the real
`puppet` (node find, lookup, apply into a temporary root) and skip without it, unless
VIRTAPI_REQUIRE_INTEGRATION=1 turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import HIERA_TRAP, clean_stderr
from tests.support.paths import REPO
from tests.support.server import Server as LiveServer
from tests.support.server import Server as TlsServer

pytestmark = pytest.mark.integration

ENC = REPO / "puppet" / "virtapi-enc"
MODULE = REPO / "puppet" / "modules" / "virtapi"
HV01 = "hv01.dc1.example.com"
HV02 = "hv02.dc1.example.com"
HV03 = "hv03.dc1.example.com"
CEPH01 = "ceph01.dc1.example.com"
WEB1 = "web1.c1001.example.net"
WEB1_UUID = "6e48e357-d408-55d0-b763-049c736ee621"


# --- the ENC script (Python standard library only) ------------------------------------------


def run_enc(certname: str, config: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ENC), certname],
        env={**os.environ, "VIRTAPI_ENC_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_yaml_config(path: Path, **values: Any) -> Path:
    # The flat `key: value` subset the script parses without a YAML library.
    path.write_text(
        "# virtapi-enc test config\n" + "".join(f"{k}: {v}\n" for k, v in values.items())
    )
    return path


@pytest.fixture
def enc_config(tmp_path: Path, live_server: LiveServer, token_file: Path) -> Path:
    return write_yaml_config(
        tmp_path / "enc.yaml",
        url=live_server.url,
        token_file=token_file,
        timeout=5,
        cache_dir=tmp_path / "cache",
    )


def test_enc_script_classifies_and_caches(enc_config: Path, tmp_path: Path) -> None:
    result = run_enc(HV01, enc_config)
    assert result.returncode == 0, result.stderr
    enc = yaml.safe_load(result.stdout)
    assert enc["environment"] == "production"
    vms = enc["classes"]["virtapi::hypervisor"]["vms"]
    assert {vm["hostname"] for vm in vms} == {WEB1, "db1.c1001.example.net"}
    assert enc["parameters"]["virtapi_roles"] == ["hypervisor"]
    assert (tmp_path / "cache" / f"{HV01}.yaml").read_text() == result.stdout


def test_enc_script_json_config_and_revalidation(
    tmp_path: Path, live_server: LiveServer, token_file: Path
) -> None:
    config = tmp_path / "enc.json"
    config.write_text(
        json.dumps(
            {"url": live_server.url, "token": live_server.reader_token, "cache_dir": str(tmp_path)}
        )
    )
    first = run_enc(CEPH01, config)
    assert first.returncode == 0, first.stderr
    offset = live_server.log_offset()
    second = run_enc(CEPH01, config)
    assert second.returncode == 0 and second.stdout == first.stdout
    # The second run sent the cached ETag and virtapi answered 304 Not Modified.
    lines = live_server.requests_since(offset, f"/enc/{CEPH01}")
    assert lines and all('" 304' in line for line in lines), lines


def test_enc_script_unknown_node(enc_config: Path, tmp_path: Path) -> None:
    stale = tmp_path / "cache" / "gone.example.com.yaml"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("classes: {}\n")
    result = run_enc("gone.example.com", enc_config)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "does not know node" in result.stderr
    # A node virtapi forgot must not be classified from an old copy later on.
    assert not stale.exists()


def test_enc_script_last_good_copy_when_virtapi_is_down(
    enc_config: Path, tmp_path: Path, token_file: Path, dead_url: str
) -> None:
    good = run_enc(HV01, enc_config)
    assert good.returncode == 0
    down = write_yaml_config(
        tmp_path / "down.yaml", url=dead_url, token_file=token_file, cache_dir=tmp_path / "cache"
    )
    result = run_enc(HV01, down)
    assert result.returncode == 0
    assert result.stdout == good.stdout
    assert "unreachable" in result.stderr and "last-good" in result.stderr
    # Without a cached copy there is nothing safe to print.
    never_cached = run_enc(HV02, down)
    assert never_cached.returncode == 3 and never_cached.stdout == ""
    assert "no cached copy" in never_cached.stderr


def test_enc_script_honours_the_timeout(
    enc_config: Path, tmp_path: Path, token_file: Path, blackhole: str
) -> None:
    assert run_enc(HV01, enc_config).returncode == 0
    hanging = write_yaml_config(
        tmp_path / "hang.yaml",
        url=blackhole,
        token_file=token_file,
        timeout=1,
        cache_dir=tmp_path / "cache",
    )
    started = time.monotonic()
    result = run_enc(HV01, hanging)
    elapsed = time.monotonic() - started
    assert result.returncode == 0 and "last-good" in result.stderr
    assert elapsed < 4, f"took {elapsed:.1f}s with timeout 1"


def test_enc_script_wrong_token_and_bad_input(tmp_path: Path, live_server: LiveServer) -> None:
    config = write_yaml_config(
        tmp_path / "enc.yaml", url=live_server.url, token="va_wrong", cache_dir=tmp_path
    )
    wrong = run_enc(HV01, config)
    assert wrong.returncode == 2 and "refused the token" in wrong.stderr
    assert run_enc("../../etc/passwd", config).returncode == 2
    bad = write_yaml_config(tmp_path / "bad.yaml", url="file:///etc/passwd", token="x")
    assert run_enc(HV01, bad).returncode == 2


# --- real puppet --------------------------------------------------------------------------------


class PuppetSite:
    """A throwaway Puppet installation: confdir, environment with our module, Hiera
    with the virtapi backend, the exec ENC, and a root to apply into."""

    def __init__(self, base: Path, live: LiveServer, token_file: Path, puppet: str) -> None:
        self.base = base
        self.puppet = puppet
        self.root = base / "root"
        self.root.mkdir(parents=True)
        self.confdir = base / "conf"
        env_dir = self.confdir / "code" / "environments" / "production"
        (env_dir / "modules").mkdir(parents=True)
        (env_dir / "manifests").mkdir()
        (env_dir / "data").mkdir()
        (env_dir / "modules" / "virtapi").symlink_to(MODULE)
        enc_config = write_yaml_config(
            base / "enc.yaml", url=live.url, token_file=token_file, cache_dir=base / "enc-cache"
        )
        self.env = {**os.environ, "VIRTAPI_ENC_CONFIG": str(enc_config)}
        (self.confdir / "puppet.conf").write_text(
            "[main]\n"
            + "".join(
                f"{key} = {self.confdir / key}\n"
                for key in ("vardir", "logdir", "rundir", "ssldir")
            )
            + f"codedir = {self.confdir / 'code'}\n"
            + f"environmentpath = {self.confdir / 'code' / 'environments'}\n"
            + "node_terminus = exec\n"
            + f"external_nodes = {ENC}\n"
        )
        # Everything but $root comes from virtapi (ENC or Hiera); $root points into base.
        (env_dir / "data" / "common.yaml").write_text(
            yaml.safe_dump(
                {
                    f"virtapi::{cls}::root": str(self.root)
                    for cls in ("hypervisor", "ceph", "guest", "node_network")
                }
            )
        )
        self.env_dir = env_dir
        self.set_virtapi_level(
            f"{live.url}/hiera/%{{trusted.certname}}",
            {"token_file": str(token_file), "timeout": 5},
        )

    def set_virtapi_level(self, uri: str, options: dict[str, Any]) -> None:
        """hiera.yaml: local data first (for $root), then virtapi through our backend."""
        (self.env_dir / "hiera.yaml").write_text(
            yaml.safe_dump(
                {
                    "version": 5,
                    "hierarchy": [
                        {"name": "local", "data_hash": "yaml_data", "path": "common.yaml"},
                        {
                            "name": "virtapi",
                            "data_hash": "virtapi::hiera_data",
                            "uri": uri,
                            "options": options,
                        },
                    ],
                }
            )
        )

    def facts(self, certname: str) -> Path:
        host, _, domain = certname.partition(".")
        path = self.base / f"facts-{certname}.yaml"
        path.write_text(
            yaml.safe_dump(
                {"clientcert": certname, "fqdn": certname, "hostname": host, "domain": domain}
            )
        )
        return path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.puppet, *args, "--confdir", str(self.confdir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result.stderr = clean_stderr(result.stderr)
        return result

    def lookup(self, certname: str, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(
            "lookup",
            "--node",
            certname,
            "--facts",
            str(self.facts(certname)),
            "--render-as",
            "json",
            *extra,
            key,
        )


@pytest.fixture
def site(tmp_path: Path, live_server: LiveServer, token_file: Path, puppet: str) -> PuppetSite:
    return PuppetSite(tmp_path, live_server, token_file, puppet)


def test_puppet_node_find_uses_the_enc(site: PuppetSite) -> None:
    result = site.run("node", "find", HV01, "--render-as", "json")
    assert result.returncode == 0, result.stderr
    node = json.loads(result.stdout)
    assert node["name"] == HV01
    assert node["environment"] == "production"
    assert "virtapi::hypervisor" in node["classes"]
    assert node["parameters"]["virtapi_roles"] == ["hypervisor"]
    assert node["parameters"]["virtapi_area"] == "a"


def test_puppet_lookup_through_the_hiera_backend(site: PuppetSite) -> None:
    vg = site.lookup(HV01, "virtapi::hypervisor::vg_name")
    assert vg.returncode == 0, vg.stderr
    assert json.loads(vg.stdout) == "vg0"
    vms = site.lookup(HV01, "virtapi::hypervisor::vms")
    assert {vm["uuid"] for vm in json.loads(vms.stdout)} >= {WEB1_UUID}
    roles = site.lookup(CEPH01, "virtapi::roles")
    assert json.loads(roles.stdout) == ["ceph_osd", "ceph_mon"]
    mon_host = site.lookup(CEPH01, "virtapi::ceph::mon_host")
    assert json.loads(mon_host.stdout).count(":6789") == 3


def test_puppet_lookup_does_not_interpolate_virtapi_data(site: PuppetSite) -> None:
    # hv03's location holds "%{facts.fqdn}": Hiera must hand it over literally.
    node = site.lookup(HV03, "virtapi::node")
    assert node.returncode == 0, node.stderr
    assert json.loads(node.stdout)["location"] == HIERA_TRAP


def test_puppet_lookup_unknown_node_is_not_found(site: PuppetSite) -> None:
    missing = site.lookup("gone.example.com", "virtapi::roles")
    assert missing.returncode != 0
    defaulted = site.lookup("gone.example.com", "virtapi::roles", "--default", "none")
    assert defaulted.returncode == 0, defaulted.stderr
    assert json.loads(defaulted.stdout) == "none"


def test_puppet_apply_hypervisor_from_the_enc(site: PuppetSite, live_server: LiveServer) -> None:
    result = site.run("apply", "--certname", HV01, "-e", "", "--detailed-exitcodes")
    # 2 = changes applied, 0 = nothing to do; 4/6 = failures.
    assert result.returncode in (0, 2), result.stdout + result.stderr
    root = site.root
    domain = (root / "etc/virtapi/libvirt" / f"{WEB1_UUID}.xml").read_text()
    assert f"<uuid>{WEB1_UUID}</uuid>" in domain
    assert "<mac address='52:54:00:00:e9:01'/>" in domain
    assert "<source dev='/dev/vg0/vm1-disk1'/>" in domain
    assert "<global_quota>200000</global_quota>" in domain
    db1 = next((root / "etc/virtapi/libvirt").glob("*.xml"), None)
    assert db1 is not None and len(list((root / "etc/virtapi/libvirt").glob("*.xml"))) == 2
    netdir = root / "etc/systemd/network"
    vxlan = (netdir / "40-virtapi-vx10001.netdev").read_text()
    # VXLAN runs over the underlay NICs (tests/integration/conftest.py).
    assert "VNI=10001" in vxlan and "Local=10.40.0.11" in vxlan
    fdb = (netdir / "40-virtapi-vx10001.network").read_text()
    assert "Destination=10.40.0.12" in fdb  # hv02 carries VLAN 10001 too
    bridge = (netdir / "50-virtapi-br-1-7.network").read_text()
    assert "Destination=198.51.100.10/32" in bridge
    assert "Kind=bridge" in (netdir / "50-virtapi-br-1-7.netdev").read_text()
    # Issue 17: web1's routed /64 on its bridge; its backup schedule as a systemd timer.
    assert "Destination=2001:db8:f00::/64" in bridge
    units = root / "etc/systemd/system"
    (timer,) = units.glob("virtapi-backup-*.timer")
    assert "OnCalendar=Mon..Fri 02:00" in timer.read_text()
    service = (units / timer.name.replace(".timer", ".service")).read_text()
    env_file = f"/etc/virtapi/backup/{timer.stem}.env"
    assert f"EnvironmentFile={env_file}" in service
    env = (root / env_file.lstrip("/")).read_text()
    assert 'DISKS="vda"' in env and "STORE_TARGET=backup01:/srv/backups" in env
    # A second run changes nothing: the catalog is idempotent.
    again = site.run("apply", "--certname", HV01, "-e", "", "--detailed-exitcodes")
    assert again.returncode == 0, again.stdout + again.stderr


def test_puppet_apply_ceph_and_guest(site: PuppetSite) -> None:
    ceph = site.run("apply", "--certname", CEPH01, "-e", "", "--detailed-exitcodes")
    assert ceph.returncode in (0, 2), ceph.stdout + ceph.stderr
    conf = (site.root / "etc/ceph/ceph.conf").read_text()
    assert "mon_host = 10.20.0.21:6789,10.20.0.22:6789,10.20.0.23:6789" in conf
    guest = site.run("apply", "--certname", WEB1, "-e", "", "--detailed-exitcodes")
    assert guest.returncode in (0, 2), guest.stdout + guest.stderr
    network = next((site.root / "etc/systemd/network").glob("20-virtapi-*.network")).read_text()
    assert "MACAddress=52:54:00:00:e9:01" in network
    assert "Address=198.51.100.10/24" in network and "Gateway=198.51.100.1" in network


def test_puppet_apply_hiera_only_makes_one_request(
    site: PuppetSite, live_server: LiveServer
) -> None:
    """Without the ENC, `include virtapi` classifies from virtapi::roles and every class
    parameter comes through automatic parameter lookup: one HTTP request in all."""
    offset = live_server.log_offset()
    result = site.run(
        "apply", "--certname", HV02, "--node_terminus", "plain", "-e", "include virtapi"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(live_server.requests_since(offset, f"/hiera/{HV02}")) == 1
    assert live_server.requests_since(offset, "/enc/") == []
    domains = list((site.root / "etc/virtapi/libvirt").glob("*.xml"))
    assert len(domains) == 2  # web2 and app1 run on hv02
    assert (site.root / "etc/systemd/network/40-virtapi-vx10002.netdev").exists()


def test_tls_is_verified_by_default(
    site: PuppetSite, live_tls_server: TlsServer, token_file: Path, tmp_path: Path
) -> None:
    """Against a server with a self-signed certificate, the Hiera backend and the ENC script
    refuse to talk until they are given its CA file."""
    uri = f"{live_tls_server.url}/hiera/%{{trusted.certname}}"
    site.set_virtapi_level(uri, {"token_file": str(token_file)})
    # puppet lookup (7.23) prints a backend's error only with --explain (and then exits 0).
    refused = site.run(
        "lookup",
        "--node",
        HV01,
        "--facts",
        str(site.facts(HV01)),
        "--explain",
        "virtapi::hypervisor::vg_name",
    )
    assert "certificate verify failed" in refused.stdout
    assert "Found key" not in refused.stdout
    ca_file = str(live_tls_server.ca_file)
    site.set_virtapi_level(uri, {"token_file": str(token_file), "ca_file": ca_file})
    trusted = site.lookup(HV01, "virtapi::hypervisor::vg_name")
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout) == "vg0"

    config = dict(url=live_tls_server.url, token_file=token_file, cache_dir=tmp_path / "c")
    untrusted = run_enc(HV01, write_yaml_config(tmp_path / "a.yaml", **config))
    assert untrusted.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    ok = run_enc(
        HV01, write_yaml_config(tmp_path / "b.yaml", ca_file=live_tls_server.ca_file, **config)
    )
    assert ok.returncode == 0, ok.stderr
    assert "virtapi::hypervisor" in yaml.safe_load(ok.stdout)["classes"]
