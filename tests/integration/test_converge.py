"""Acceptance for issue 16: every role converges, twice, with real Puppet and real Salt.

Each role (hypervisor hv01, Ceph monitor + OSD ceph01, guest web1) is applied twice into a
temporary root: files are written for real, the host's packages and services are in noop
(Puppet) or stand-ins (Salt's test.nop), so the machine running the tests is not touched.
The second run must change nothing. Every generated file is then checked by the tool that
will read it (tests/integration/validate.py).

Most cases with Ceph keys put them into the local data layer each tool merges with
virtapi's (Hiera's per-node level, Salt's pillar_roots), which is also how an operator can
override them; `test_converge_from_server_ceph_inventory` takes the same cluster and key from
virtapi itself (issue 16 point 2: inventory, secrets scope, key encrypted at rest).
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration import validate
from tests.integration.test_puppet import PuppetSite
from tests.integration.test_salt import Minion, _content_lines
from tests.support.paths import REPO
from tests.support.server import Server as LiveServer
from tests.support.server import running_server

pytestmark = pytest.mark.integration

HV01 = "hv01.dc1.example.com"
CEPH01 = "ceph01.dc1.example.com"
WEB1 = "web1.c1001.example.net"

FSID = "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11"
SECRET_UUID = "0f8b3e8e-5a0c-4b8e-9d3f-1c2b3a4d5e6f"
LIBVIRT_KEY = "AQCKHdVkAAAAABAAr5gGbm0y9iJvbfC4p1EWqQ=="  # made up, cephx-shaped
ADMIN_KEY = "AQDhHdVkAAAAABAAm7cZ7lJx3R0u2gk8q1cN4w=="
CLUSTER = {
    "fsid": FSID,
    "mon_host": "10.20.0.21:6789,10.20.0.22:6789,10.20.0.23:6789",
    # The storage network the live server's inventory has (conftest._node_networks): virtapi
    # serves it too, and Salt merges its ext_pillar over the local pillar.
    "public_network": "10.30.0.0/24",
    "cluster_network": "10.30.0.0/24",
}
# What a reader token gets: the key exists, but is not served.
LIBVIRT_READER = {"name": "client.libvirt", "secret_uuid": SECRET_UUID, "key_secret_present": True}
LIBVIRT_SECRETS = {**LIBVIRT_READER, "key": LIBVIRT_KEY}
ADMIN_SECRETS = {"name": "admin", "key_secret_present": True, "key": ADMIN_KEY}

# (certname, keys) -> the document keys added for that case, by section.
CASES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "hypervisor": (HV01, {}),
    "hypervisor-ceph-reader": (
        HV01,
        {"hypervisor": {"ceph_cluster": CLUSTER, "ceph_client": LIBVIRT_READER}},
    ),
    "hypervisor-ceph-secrets": (
        HV01,
        {"hypervisor": {"ceph_cluster": CLUSTER, "ceph_client": LIBVIRT_SECRETS}},
    ),
    "ceph-mon-osd": (CEPH01, {}),
    "ceph-mon-osd-secrets": (CEPH01, {"ceph": {"cluster": CLUSTER, "client": ADMIN_SECRETS}}),
    "guest": (WEB1, {}),
}

# Debian 12 names, from the module data / map.jinja (the test machine is Debian).
PACKAGES = {
    HV01: {
        "libvirt-daemon-system",
        "libvirt-clients",
        "qemu-system-x86",
        "qemu-utils",
        "qemu-block-extra",
        "lvm2",
        "ceph-common",
        "systemd",
    },
    CEPH01: {"ceph-common", "ceph-mon", "ceph-osd", "systemd"},
    WEB1: {"systemd"},
}
SERVICES = {
    HV01: {"libvirtd", "systemd-networkd"},
    CEPH01: {"ceph-mon.target", "ceph-osd.target", "systemd-networkd"},
    WEB1: {"systemd-networkd"},
}


# --- what both tools must have written ------------------------------------------------------


def check_host_files(
    root: Path, certname: str, keys: dict[str, dict[str, Any]], *, node_nics: bool = True
) -> None:
    """Validate every generated file with the real tools and check the Ceph parts.

    ``node_nics``: hv01 has the storage and underlay NICs of conftest._node_networks (a server
    with the plain demo fleet has only the management NIC)."""
    domains = sorted((root / "etc/virtapi/libvirt").glob("*.xml"))
    for domain in domains:
        validate.libvirt_xml(domain, "domain")
    for network in sorted((root / "etc/systemd/network").glob("*")):
        validate.networkd_file(network)
    if certname == WEB1:
        assert list((root / "etc/systemd/network").glob("20-virtapi-*.network"))
        return

    # The node's own management NIC (demo: eno1), matched by MAC, with its gateways.
    index = 1 if certname == HV01 else 11
    eno1 = (root / "etc/systemd/network/10-virtapi-eno1.network").read_text()
    assert f"\n[Match]\nMACAddress=0c:c4:7a:00:00:{index:02x}\n" in eno1
    assert f"Address=10.20.0.{10 + index}/24\nAddress=fd00:20::{10 + index:x}/64\n" in eno1
    assert eno1.endswith("Gateway=10.20.0.1\nGateway=fd00:20::1\n")
    if certname == HV01 and node_nics:
        # Storage and underlay NICs: their addresses, no gateway (conftest._node_networks).
        netdir = root / "etc/systemd/network"
        nics = (("eno2", "01:01", "10.30.0.11"), ("eno3", "02:01", "10.40.0.11"))
        for name, mac, address in nics:
            nic = (netdir / f"10-virtapi-{name}.network").read_text()
            assert f"MACAddress=0c:c4:7a:00:{mac}\n" in nic and f"Address={address}/24\n" in nic
            assert "Gateway=" not in nic
        vxlan = (netdir / "40-virtapi-vx10001.netdev").read_text()
        assert "Local=10.40.0.11\n" in vxlan

    conf = root / "etc/ceph/ceph.conf"
    assert validate.ceph_conf(conf, "mon_host") == CLUSTER["mon_host"]
    section = keys.get("hypervisor", {}) if certname == HV01 else keys.get("ceph", {})
    cluster = section.get("ceph_cluster") or section.get("cluster")
    client = section.get("ceph_client") or section.get("client")
    if cluster:
        assert validate.ceph_conf(conf, "fsid") == FSID
        assert validate.ceph_conf(conf, "public_network") == CLUSTER["public_network"]
        assert validate.ceph_conf(conf, "cluster_network") == CLUSTER["cluster_network"]
    else:
        assert "fsid" not in conf.read_text()
    keyrings = list((root / "etc/ceph").glob("*.keyring"))
    if client:
        client_id = client["name"].removeprefix("client.")
        keyring = f"/etc/ceph/ceph.client.{client_id}.keyring"
        assert validate.ceph_conf_client(conf, f"client.{client_id}", "keyring") == keyring
        if "key" in client:
            path = root / keyring.lstrip("/")
            assert path.read_text() == f"[client.{client_id}]\n\tkey = {client['key']}\n"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert keyrings == [path]
        else:
            assert keyrings == []
    else:
        assert keyrings == []

    if certname != HV01:
        return
    assert len(domains) == 2
    # The backup command the timers run, installed by Puppet and by Salt alike.
    command = root / "usr/local/sbin/virtapi-backup"
    assert (
        command.read_bytes() == (REPO / "puppet/modules/virtapi/files/virtapi-backup").read_bytes()
    )
    assert stat.S_IMODE(command.stat().st_mode) == 0o755
    secrets = root / "etc/virtapi/secrets"
    # db1 has an RBD disk; web1 only a local one.
    (rbd,) = [d.read_text() for d in domains if "<source protocol='rbd'" in d.read_text()]
    if client:
        assert (
            "<auth username='libvirt'>\n"
            f"        <secret type='ceph' uuid='{SECRET_UUID}'/>\n"
            "      </auth>"
        ) in rbd
        validate.libvirt_xml(secrets / f"{SECRET_UUID}.xml", "secret")
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
        key_file = secrets / f"{SECRET_UUID}.key"
        if "key" in client:
            assert key_file.read_text() == LIBVIRT_KEY + "\n"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        else:
            assert not key_file.exists()
    else:
        assert "<auth" not in rbd
        assert not secrets.exists()


# --- Puppet ---------------------------------------------------------------------------------


class _RubyLoader(yaml.SafeLoader):
    """Reads Puppet's report YAML, whose objects carry !ruby/object tags."""


def _ruby(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_RubyLoader.add_multi_constructor("!ruby/", _ruby)


def puppet_apply(site: PuppetSite, certname: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    result = site.run("apply", "--certname", certname, "-e", "", "--detailed-exitcodes")
    report_file = site.confdir / "vardir" / "state" / "last_run_report.yaml"
    text = report_file.read_text()
    # Sensitive (module lookup_options) keeps the keys out of reports and logs.
    assert LIBVIRT_KEY not in text and ADMIN_KEY not in text
    assert LIBVIRT_KEY not in result.stdout + result.stderr
    assert ADMIN_KEY not in result.stdout + result.stderr
    return result, yaml.load(text, Loader=_RubyLoader)  # noqa: S506 - safe subclass


def set_puppet_keys(site: PuppetSite, keys: dict[str, dict[str, Any]]) -> None:
    """The document keys as Hiera data in the site's local level (first in the hierarchy)."""
    common = site.env_dir / "data" / "common.yaml"
    data = yaml.safe_load(common.read_text())
    for section, values in keys.items():
        for key, value in values.items():
            data[f"virtapi::{section}::{key}"] = value
    common.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("case", list(CASES))
def test_puppet_role_converges_in_two_runs(
    case: str, tmp_path: Path, live_server: LiveServer, token_file: Path, puppet: str
) -> None:
    certname, keys = CASES[case]
    site = PuppetSite(tmp_path, live_server, token_file, puppet)
    set_puppet_keys(site, keys)

    first, report = puppet_apply(site, certname)
    # 2: changes applied; 0 would mean the empty root already matched, 4/6: failures.
    assert first.returncode == 2, first.stdout + first.stderr
    statuses = report["resource_statuses"]
    packages = {r[len("Package[") : -1] for r in statuses if r.startswith("Package[")}
    services = {r[len("Service[") : -1] for r in statuses if r.startswith("Service[")}
    assert packages == PACKAGES[certname]
    assert services == SERVICES[certname]
    # The host is untouched: its packages and services are only ever noop events.
    for name, status in statuses.items():
        if name.startswith(("Package[", "Service[")):
            assert not status["changed"], name
            assert all(e["status"] == "noop" for e in status["events"]), (name, status["events"])
    if keys.get("hypervisor", {}).get("ceph_client") == LIBVIRT_READER:
        assert "holds the key of client.libvirt but did not serve it" in first.stderr

    second, report = puppet_apply(site, certname)
    assert second.returncode == 0, second.stdout + second.stderr
    assert report["metrics"]["changes"]["values"] == [["total", "Total", 0]]
    changed = [name for name, status in report["resource_statuses"].items() if status["changed"]]
    assert changed == []
    check_host_files(site.root, certname, keys)


# --- Salt -----------------------------------------------------------------------------------


def salt_minion(
    base: Path, salt_call: str, certname: str, live: LiveServer, token_file: Path, keys: dict
) -> Minion:
    minion = Minion(base, salt_call, certname, live.url, token_file)
    if keys:
        # Local pillar merged (recursively) with virtapi's ext_pillar.
        pillar_dir = base / "pillar"
        pillar_dir.mkdir()
        (pillar_dir / "top.sls").write_text(yaml.safe_dump({"base": {"*": ["ceph_keys"]}}))
        (pillar_dir / "ceph_keys.sls").write_text(yaml.safe_dump({"virtapi": keys}))
        minion.config["pillar_roots"] = {"base": [str(pillar_dir)]}
        minion.write()
    return minion


def _salt_states(result: subprocess.CompletedProcess[str], states: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    assert isinstance(states, dict), states  # a render error comes back as a list
    return states


@pytest.mark.parametrize("case", list(CASES))
def test_salt_role_converges_in_two_runs(
    case: str, tmp_path: Path, live_server: LiveServer, token_file: Path, salt_call: str
) -> None:
    certname, keys = CASES[case]
    minion = salt_minion(tmp_path, salt_call, certname, live_server, token_file, keys)

    result, low = minion.call("state.show_low_sls", "virtapi")
    assert result.returncode == 0 and isinstance(low, list), result.stdout + result.stderr
    packages = {p for chunk in low for p in chunk.get("pkgs", [])}
    services = {c["name"] for c in low if c["__id__"].startswith("virtapi-") and "enable" in c}
    assert packages == PACKAGES[certname]
    assert services == SERVICES[certname]
    # Outside '/', the host's packages and services are stand-ins that change nothing.
    assert {c["state"] for c in low if "pkgs" in c or "enable" in c} == {"test"}

    applied, states = minion.call("state.apply", "virtapi")
    first = _salt_states(applied, states)
    failed = {k: v["comment"] for k, v in first.items() if v["result"] is not True}
    assert not failed, failed
    assert any(state["changes"] for state in first.values())
    if keys.get("hypervisor", {}).get("ceph_client") == LIBVIRT_READER:
        assert "holds the key of client.libvirt but did not serve it" in applied.stderr
    rendered = json.dumps(first)
    assert LIBVIRT_KEY not in rendered and ADMIN_KEY not in rendered

    second = _salt_states(*minion.call("state.apply", "virtapi"))
    changed = {k: v["changes"] for k, v in second.items() if v["changes"] or not v["result"]}
    assert changed == {}
    check_host_files(minion.out, certname, keys)


@pytest.mark.parametrize("case", ["hypervisor-ceph-secrets", "ceph-mon-osd-secrets"])
def test_salt_and_puppet_write_the_same_ceph_files(
    case: str,
    tmp_path: Path,
    live_server: LiveServer,
    token_file: Path,
    puppet: str,
    salt_call: str,
) -> None:
    """With the Ceph keys present, both tools write identical files (ceph.conf, keyring,
    libvirt secret, RBD <auth>), as test_salt_and_puppet_build_the_same_files checks
    without them."""
    certname, keys = CASES[case]
    minion = salt_minion(tmp_path / "salt", salt_call, certname, live_server, token_file, keys)
    _salt_states(*minion.call("state.apply", "virtapi"))
    site = PuppetSite(tmp_path / "puppet", live_server, token_file, puppet)
    set_puppet_keys(site, keys)
    applied, _ = puppet_apply(site, certname)
    assert applied.returncode == 2, applied.stdout + applied.stderr
    salt_files = _content_lines(minion.out)
    assert salt_files == _content_lines(site.root)
    assert any("ceph.client." in name for name in salt_files)


def test_salt_state_apply_fails_without_a_virtapi_pillar(
    tmp_path: Path, live_server: LiveServer, token_file: Path, salt_call: str, dead_url: str
) -> None:
    """virtapi down and nothing cached: the run fails and says why, instead of applying
    nothing and reporting success (what a stock cmd_json pillar leads to)."""
    minion = Minion(tmp_path, salt_call, HV01, dead_url, token_file)
    result, states = minion.call("state.apply", "virtapi")
    assert result.returncode != 0
    (state,) = states.values()
    assert state["result"] is False
    assert "No virtapi pillar for hv01.dc1.example.com" in state["name"]
    assert not minion.out.exists()
    minion.config["virtapi_allow_missing_pillar"] = True
    minion.write()
    skipped, states = minion.call("state.apply", "virtapi")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert [s["__id__"] for s in states.values()] == ["virtapi-no-roles"]


# --- the same Ceph data served by virtapi (issue 16 point 2) --------------------------------


def _post(server: LiveServer, token: str, method: str, path: str, body: dict[str, Any]) -> Any:
    import urllib.request

    req = urllib.request.Request(
        f"{server.url}{path}", data=json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - our test server
        return json.loads(resp.read())


def _ceph_inventory(server: LiveServer, token: str) -> None:
    """Register CLUSTER and client.libvirt with its key, as an operator would after
    `ceph auth get-or-create client.libvirt …`, and put hv01 and the monitors in it."""
    body = {"name": "main", "fsid": FSID, "public_network": CLUSTER["public_network"],
            "cluster_network": CLUSTER["cluster_network"]}  # fmt: skip
    _post(server, token, "POST", "/api/v1/ceph-clusters", body)
    body = {"ceph_cluster": "main", "name": "client.libvirt", "secret_uuid": SECRET_UUID,
            "key": LIBVIRT_KEY, "is_default": True}  # fmt: skip
    _post(server, token, "POST", "/api/v1/ceph-clients", body)
    import urllib.request

    req = urllib.request.Request(
        f"{server.url}/api/v1/ceph-mon-nodes", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        mons = json.loads(resp.read())["results"]
    for mon in mons:
        _post(server, token, "PATCH", f"/api/v1/ceph-mon-nodes/{mon['id']}",
              {"ceph_cluster": "main"})  # fmt: skip
    req = urllib.request.Request(
        f"{server.url}/api/v1/nodes?fqdn={HV01}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        (node,) = json.loads(resp.read())["results"]
    _post(server, token, "PATCH", f"/api/v1/nodes/{node['id']}", {"ceph_cluster": "main"})


def test_converge_from_server_ceph_inventory(tmp_path: Path, puppet: str, salt_call: str) -> None:
    """hv01 converges from virtapi's own Ceph inventory, fetched with a secrets-scoped token:
    the same files as the local-data case, twice with zero changes, Puppet and Salt alike."""
    with running_server(tmp_path / "server", f"sqlite:///{tmp_path / 'virtapi.sqlite'}") as srv:
        scoped = srv.tokens["operator (secrets)"]
        _ceph_inventory(srv, scoped)
        token_file = tmp_path / "secrets.token"
        token_file.write_text(scoped + "\n")
        token_file.chmod(0o600)
        served = {"hypervisor": {"ceph_cluster": CLUSTER, "ceph_client": LIBVIRT_SECRETS}}

        minion = salt_minion(tmp_path / "salt", salt_call, HV01, srv, token_file, {})
        first = _salt_states(*minion.call("state.apply", "virtapi"))
        assert LIBVIRT_KEY not in json.dumps(first)
        second = _salt_states(*minion.call("state.apply", "virtapi"))
        assert {k: v["changes"] for k, v in second.items() if v["changes"]} == {}
        check_host_files(minion.out, HV01, served, node_nics=False)

        site = PuppetSite(tmp_path / "puppet", srv, token_file, puppet)
        applied, _ = puppet_apply(site, HV01)
        assert applied.returncode == 2, applied.stdout + applied.stderr
        again, report = puppet_apply(site, HV01)
        assert again.returncode == 0, again.stdout + again.stderr
        assert report["metrics"]["changes"]["values"] == [["total", "Total", 0]]
        check_host_files(site.root, HV01, served, node_nics=False)
        assert _content_lines(minion.out) == _content_lines(site.root)
        # The key never reached the server's logs.
        assert LIBVIRT_KEY not in srv.logs()
