"""The roles applied for real on a disposable Debian 12 root (issue 16, point 4).

Puppet from Debian runs inside a debootstrapped root (tests/integration/debian_root.py)
with our module and the ENC and Hiera answers of a live virtapi: apt really installs the
role's packages there. No systemd runs in a chroot, so the units are only enabled
(virtapi::services::manage_running: false); libvirt and the disks are not driven
(no libvirtd, no volume group). The second run must change nothing. Then the generated
domains go through virt-xml-validate and ceph.conf through ceph-conf, inside the root.
The same for Salt (`salt-call --local state.apply`, salt from pip: Debian 12 has none).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import skip_or_fail
from tests.integration import debian_root
from tests.support.paths import REPO
from tests.support.server import Server

pytestmark = pytest.mark.integration

MODULE = REPO / "puppet" / "modules" / "virtapi"
ENV_DIR = "/etc/puppet/code/environments/production"
# What a chroot cannot do; everything else runs as on a real host.
CHROOT_DATA = {
    "virtapi::services::manage_running": False,
    "virtapi::hypervisor::manage_libvirt": False,
    "virtapi::hypervisor::manage_disks": False,
}
ENC_SCRIPT = '#!/bin/sh\nexec cat "/etc/puppet/virtapi-test/$1.yaml"\n'


def _skip_unless_possible() -> None:
    reason = debian_root.unavailable()
    if reason:
        skip_or_fail(reason)
    reason = debian_root.mirror_unreachable()
    if reason:
        pytest.skip(reason)  # the network, not the machine: never a CI failure to install


@pytest.fixture
def root(tmp_path: Path):  # type: ignore[no-untyped-def]
    _skip_unless_possible()
    with debian_root.debian_root(tmp_path) as made:
        made.run("apt-get", "update", "-qq", timeout=600)
        yield made


def _get(server: Server, path: str) -> str:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {server.reader_token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return resp.read().decode()


def _install_site(root: debian_root.DebianRoot, server: Server, certname: str) -> None:
    """Our module, the ENC answer and the Hiera hash virtapi serves for `certname` (as files)."""
    env = root.file(ENV_DIR)
    (env / "data").mkdir(parents=True, exist_ok=True)
    shutil.copytree(MODULE, env / "modules" / "virtapi", dirs_exist_ok=True)
    (env / "data" / "chroot.yaml").write_text(yaml.safe_dump(CHROOT_DATA))
    (env / "data" / "virtapi.json").write_text(_get(server, f"/hiera/{certname}"))
    (env / "hiera.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 5,
                "hierarchy": [
                    {"name": "chroot", "data_hash": "yaml_data", "path": "chroot.yaml"},
                    {"name": "virtapi", "data_hash": "json_data", "path": "virtapi.json"},
                ],
            }
        )
    )
    answers = root.file("/etc/puppet/virtapi-test")
    answers.mkdir(parents=True, exist_ok=True)
    (answers / f"{certname}.yaml").write_text(_get(server, f"/enc/{certname}"))
    script = root.file("/usr/local/bin/virtapi-test-enc")
    script.write_text(ENC_SCRIPT)
    script.chmod(0o755)
    conf = root.file("/etc/puppet/puppet.conf")
    conf.write_text(
        conf.read_text()
        + "\n[main]\nnode_terminus = exec\nexternal_nodes = /usr/local/bin/virtapi-test-enc\n"
    )


def _apply(root: debian_root.DebianRoot, certname: str) -> tuple[int, dict, str]:
    result = root.run(
        "puppet", "apply", "--certname", certname, "--detailed-exitcodes", "-e", "",
        timeout=1800, check=False,
    )  # fmt: skip
    log = result.stdout + result.stderr
    where = root.run("puppet", "config", "print", "lastrunfile").stdout.strip()
    summary_file = root.file(where)
    assert summary_file.exists(), log  # no summary: the catalog did not compile
    return result.returncode, yaml.safe_load(summary_file.read_text()), log


def _states(root: debian_root.DebianRoot, packages: list[str]) -> dict[str, str]:
    """dpkg's status of each package ("installed", "not-installed", …); absent if unknown."""
    out = root.run(
        "dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n", *packages, check=False
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _packages(*classes: str) -> list[str]:
    data = yaml.safe_load((MODULE / "data/os/Debian.yaml").read_text())
    return [p for c in classes for p in data[f"virtapi::{c}::packages"]]


ROLES = pytest.mark.parametrize(
    "certname, classes",
    [
        ("hv01.dc1.example.com", ("hypervisor", "ceph")),
        ("ceph01.dc1.example.com", ("ceph", "ceph::mon", "ceph::osd")),
    ],
    ids=["hypervisor", "ceph-mon-osd"],
)


def _check_built(root: debian_root.DebianRoot, classes: tuple[str, ...], log: str) -> None:
    """What a converged node of these roles has: its packages, its units enabled for the
    next boot (nothing runs here), a ceph.conf ceph-conf reads, domains libvirt accepts."""
    packages = _packages(*classes)
    assert _states(root, packages) == dict.fromkeys(packages, "installed"), log
    units = ["systemd-networkd"]
    units += ["libvirtd"] if "hypervisor" in classes else ["ceph-mon.target", "ceph-osd.target"]
    enabled = root.run(
        "env", "SYSTEMD_OFFLINE=1", "systemctl", "is-enabled", *units, check=False
    ).stdout.split()
    assert enabled == ["enabled"] * len(units), enabled
    ceph = root.run("ceph-conf", "-c", "/etc/ceph/ceph.conf", "--lookup", "mon_host")
    assert ":6789" in ceph.stdout
    if "hypervisor" in classes:
        # virt-xml-validate runs xmllint, which libvirt-clients does not depend on.
        root.run("apt-get", "install", "-y", "-qq", "libxml2-utils", timeout=600)
        domains = sorted(root.file("/etc/virtapi/libvirt").glob("*.xml"))
        assert len(domains) == 2
        for domain in domains:
            root.run("virt-xml-validate", f"/etc/virtapi/libvirt/{domain.name}", "domain")


@ROLES
def test_puppet_real_apply_twice_on_debian_12(
    root: debian_root.DebianRoot, live_server: Server, certname: str, classes: tuple[str, ...]
) -> None:
    _install_site(root, live_server, certname)
    assert "installed" not in _states(root, _packages(*classes)).values()

    code, summary, log = _apply(root, certname)
    # 2: changes applied, no failure (4 and 6 mean failures).
    assert code == 2, log
    assert summary["resources"]["failed"] == 0, log

    code, summary, log = _apply(root, certname)
    assert code == 0, log  # idempotent: the second run has nothing to do
    assert summary["changes"]["total"] == 0 and summary["resources"]["out_of_sync"] == 0, log
    _check_built(root, classes, log)


# What a chroot cannot do, for Salt (salt/states/virtapi/map.jinja).
SALT_CHROOT = {
    "virtapi_services_running": False,
    "virtapi_manage_libvirt": False,
    "virtapi_manage_disks": False,
    "virtapi_manage_snapshots": False,
}


@pytest.fixture
def salt_root(tmp_path: Path):  # type: ignore[no-untyped-def]
    _skip_unless_possible()
    with debian_root.debian_root(tmp_path, salt=True) as made:
        made.run("apt-get", "update", "-qq", timeout=600)
        yield made


def _install_minion(root: debian_root.DebianRoot, server: Server, minion_id: str) -> None:
    """Our states, virtapi's pillar for `minion_id` (as a file), a masterless minion."""
    shutil.copytree(REPO / "salt/states/virtapi", root.file("/srv/salt/virtapi"))
    pillar = root.file("/srv/pillar")
    pillar.mkdir(parents=True)
    (pillar / "top.sls").write_text("base:\n  '*':\n    - virtapi\n")
    (pillar / "virtapi.sls").write_text("#!json\n" + _get(server, f"/pillar/{minion_id}"))
    config = {
        "id": minion_id,
        "file_client": "local",
        "file_roots": {"base": ["/srv/salt"]},
        "pillar_roots": {"base": ["/srv/pillar"]},
        # apt through `systemd-run --scope` needs a running systemd
        "systemd.scope": False,
        **SALT_CHROOT,
    }
    root.file("/etc/salt").mkdir(parents=True, exist_ok=True)
    root.file("/etc/salt/minion").write_text(yaml.safe_dump(config))
    # Salt loads its systemd service module only where /run/systemd/system exists (a booted
    # systemd); without it Debian's init-script module would try update-rc.d.
    root.file("/run/systemd/system").mkdir(parents=True, exist_ok=True)


def _salt_apply(root: debian_root.DebianRoot) -> tuple[dict, str]:
    # SYSTEMD_OFFLINE: systemctl would take the directory above for a running systemd.
    result = root.run(
        "env", "SYSTEMD_OFFLINE=1", debian_root.SALT_CALL, "--local", "--out=json",
        "state.apply", "virtapi", timeout=1800, check=False,
    )  # fmt: skip
    log = result.stdout[-8000:] + result.stderr[-4000:]
    try:
        states = json.loads(result.stdout)["local"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError(log) from None
    assert isinstance(states, dict), log  # a list: the states did not render
    return states, log


@ROLES
def test_salt_real_apply_twice_on_debian_12(
    salt_root: debian_root.DebianRoot,
    live_server: Server,
    certname: str,
    classes: tuple[str, ...],
) -> None:
    root = salt_root
    _install_minion(root, live_server, certname)
    assert "installed" not in _states(root, _packages(*classes)).values()

    states, log = _salt_apply(root)
    failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
    assert not failed, failed
    assert any("pkg_|" in k and v["changes"] for k, v in states.items()), log

    states, log = _salt_apply(root)
    failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
    assert not failed, failed
    changed = {k: v["changes"] for k, v in states.items() if v["changes"]}
    assert not changed, changed  # idempotent: the second run is all clean
    _check_built(root, classes, log)
