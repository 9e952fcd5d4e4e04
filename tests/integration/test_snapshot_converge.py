"""Hosts carry out snapshots, clones and restores (issue 17): real Puppet and real Salt apply
hv01's document from a live virtapi into a temporary root, on real qcow2 files with the real
qemu-img. A snapshot is made and reported present, a second run changes nothing, a requested
rollback restores the data once and is reported, a deletion removes it and the report removes
it from virtapi; a clone gets its base as backing file; a restore fills a new disk from a real
backup copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.storage_host import COMMAND, HV01, WEB1, MiB, qemu_server
from tests.integration.storage_host import api as _api
from tests.integration.test_puppet import PuppetSite
from tests.integration.test_salt import Minion
from tests.support.server import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with qemu_server(tmp_path_factory, "snapshots") as live:
        yield live


def _puppet(server: Server, tmp_path: Path, puppet: str, manage: str) -> tuple[Path, Callable]:
    """A Puppet site on ``server`` with ``virtapi::hypervisor::<manage>`` on; its root and
    one run of hv01's catalog (returning 0 when nothing changed)."""
    token = tmp_path / "token"
    token.write_text(server.tokens["reader"] + "\n")
    site = PuppetSite(tmp_path / "site", server, token, puppet)
    data = site.env_dir / "data" / "common.yaml"
    local = yaml.safe_load(data.read_text())
    data.write_text(yaml.safe_dump({**local, f"virtapi::hypervisor::{manage}": True}))
    # The report command reads these (in production: /etc/virtapi/backup.conf).
    site.env.update(VIRTAPI_URL=server.url, VIRTAPI_TOKEN_FILE=str(token))

    def apply() -> int:
        result = site.run("apply", "--certname", HV01, "-e", "", "--detailed-exitcodes")
        assert result.returncode in (0, 2), result.stdout + result.stderr
        return result.returncode

    return site.root, apply


def _salt(
    server: Server, tmp_path: Path, salt_call: str, monkeypatch: pytest.MonkeyPatch, manage: str
) -> tuple[Path, Callable]:
    """The same with a masterless minion and ``virtapi_<manage>`` in its config."""
    token = tmp_path / "token"
    token.write_text(server.tokens["reader"] + "\n")
    minion = Minion(tmp_path / "salt", salt_call, HV01, server.url, token)
    minion.config[f"virtapi_{manage}"] = True
    minion.write()
    monkeypatch.setenv("VIRTAPI_URL", server.url)
    monkeypatch.setenv("VIRTAPI_TOKEN_FILE", str(token))

    def apply() -> int:
        result, states = minion.call("state.apply", "virtapi")
        assert result.returncode == 0 and isinstance(states, dict), result.stdout + result.stderr
        failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
        assert not failed, failed
        return 2 if any(v["changes"] for v in states.values()) else 0

    return minion.out, apply


def _qemu_io(image: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-c", command, str(image)],
                          capture_output=True, text=True, check=False)  # fmt: skip


def _tags(image: Path) -> list[str]:
    listed = subprocess.run(["qemu-img", "snapshot", "-l", str(image)],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [line.split()[1] for line in listed.splitlines()[2:]]


def _snapshot_flow(server: Server, root: Path, apply: Any) -> None:
    """The disk made where the document says (below ``root``), then snapshot, rollback and
    deletion, each carried out by ``apply()`` (one converge run; 0 = nothing changed)."""
    vm = _api(server, "GET", f"/api/v1/vms?hostname={WEB1}")["results"][0]
    disk = _api(server, "POST", "/api/v1/storage",
                {"vm_id": vm["id"], "size": 16 * MiB, "storage_type": "qcow2"})  # fmt: skip
    document = _api(server, "GET", f"/pillar/{HV01}")["virtapi"]["hypervisor"]
    suffix = f"-disk{disk['id']}.qcow2"
    path = next(
        d["path"]
        for v in document["vms"]
        for d in v["disks"]
        if d["type"] == "qcow2" and d["path"].endswith(suffix)
    )
    image = root / path.lstrip("/")
    image.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(image), "16M"], check=True,
                   capture_output=True)  # fmt: skip
    assert _qemu_io(image, "write -P 0x11 0 1M").returncode == 0
    snap = _api(server, "POST", "/api/v1/snapshots", {"storage_id": disk["id"], "name": "before"})

    apply()
    assert _tags(image) == ["before"]
    assert _api(server, "GET", f"/api/v1/snapshots/{snap['id']}")["state"] == "present"
    assert apply() == 0  # nothing left to do

    # Rollback: the VM stopped (asked and reported), the data written since is undone once.
    assert _qemu_io(image, "write -P 0x22 0 1M").returncode == 0
    _api(server, "POST", f"/api/v1/vms/{vm['uuid']}/stop")
    _api(server, "POST", f"/api/v1/vms/{vm['uuid']}/report", {"state": "stopped"})
    assert _api(server, "POST", f"/api/v1/snapshots/{snap['id']}/rollback")["rollback"] is True
    apply()
    check = _qemu_io(image, "read -P 0x11 0 1M")
    assert check.returncode == 0 and "Pattern verification failed" not in check.stdout
    assert _api(server, "GET", f"/api/v1/snapshots/{snap['id']}")["rollback"] is False
    assert apply() == 0

    # Deletion: removed from the image, and the report removes it from virtapi.
    _api(server, "DELETE", f"/api/v1/snapshots/{snap['id']}")
    apply()
    assert _tags(image) == []
    with pytest.raises(urllib.error.HTTPError) as gone:
        _api(server, "GET", f"/api/v1/snapshots/{snap['id']}")
    assert gone.value.code == 404
    assert apply() == 0
    # Back to running for the next test on this server.
    _api(server, "POST", f"/api/v1/vms/{vm['uuid']}/start")
    _api(server, "POST", f"/api/v1/vms/{vm['uuid']}/report", {"state": "running"})


def test_puppet_makes_reports_rolls_back_and_removes_a_qcow2_snapshot(
    server: Server, tmp_path: Path, puppet: str
) -> None:
    root, apply = _puppet(server, tmp_path, puppet, "manage_snapshots")
    apply()  # the rest of hv01's catalog first, so later runs change only snapshots
    _snapshot_flow(server, root, apply)


def test_salt_makes_reports_rolls_back_and_removes_a_qcow2_snapshot(
    server: Server, tmp_path: Path, salt_call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, apply = _salt(server, tmp_path, salt_call, monkeypatch, "manage_snapshots")
    apply()
    _snapshot_flow(server, root, apply)


def _hv(server: Server) -> Any:
    return _api(server, "GET", f"/pillar/{HV01}")["virtapi"]["hypervisor"]


def _file_disks(server: Server) -> dict[str, Any]:
    """hv01's file disks in the document by "<disk id>.qcow2"."""
    return {
        d["path"].rsplit("-disk", 1)[1]: d
        for v in _hv(server)["vms"]
        for d in v["disks"]
        if d["type"] in ("qcow2", "raw")
    }


def _clone_restore_flow(server: Server, root: Path, apply: Any, tag: str) -> None:
    """A clone of a qcow2 base image and a disk restored from a real backup copy, created by
    ``apply()`` below ``root``; the next run changes nothing. The disks go again at the end."""
    # Only file disks on hv01: this machine has no volume group and no Ceph cluster.
    for vm in _hv(server)["vms"]:
        vm_id = _api(server, "GET", f"/api/v1/vms?hostname={vm['hostname']}")["results"][0]["id"]
        for disk in _api(server, "GET", f"/api/v1/storage?vm_id={vm_id}")["results"]:
            if disk["storage_type"] not in ("qcow2", "raw"):
                _api(server, "DELETE", f"/api/v1/storage/{disk['id']}")
    web1 = _api(server, "GET", f"/api/v1/vms?hostname={WEB1}")["results"][0]
    _api(server, "POST", "/api/v1/base-images",
         {"name": f"deb-{tag}", "storage_type": "qcow2", "size": 16 * MiB})  # fmt: skip
    clone = _api(server, "POST", "/api/v1/storage",
                 {"vm_id": web1["id"], "size": 32 * MiB, "storage_type": "qcow2",
                  "base_image": f"deb-{tag}"})  # fmt: skip
    source = _api(server, "POST", "/api/v1/storage",
                  {"vm_id": web1["id"], "size": 16 * MiB, "storage_type": "qcow2"})  # fmt: skip
    disks = _file_disks(server)
    clone_entry = disks[f"{clone['id']}.qcow2"]
    (root / clone_entry["path"].lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    base = root / clone_entry["clone_of"]["backing_file"].lstrip("/")
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(base), "16M"], check=True,
                   capture_output=True)  # fmt: skip
    assert _qemu_io(base, "write -P 0x33 0 1M").returncode == 0
    apply()  # makes the clone and the (empty) source disk
    source_file = root / disks[f"{source['id']}.qcow2"]["path"].lstrip("/")
    assert _qemu_io(source_file, "write -P 0x44 0 1M").returncode == 0

    # A real backup of the source disk, then a restore of it into a new disk.
    _api(server, "POST", "/api/v1/backup-stores",
         {"name": f"local-{tag}", "kind": "path", "target": f"/backups-{tag}"})  # fmt: skip
    schedule = _api(server, "POST", "/api/v1/backup-schedules",
                    {"storage_id": source["id"], "store": f"local-{tag}",
                     "on_calendar": "daily", "retention": 1})  # fmt: skip
    token = root.parent / "backup-token"
    token.write_text(server.tokens["reader"])
    env = {**os.environ, "VIRTAPI_URL": server.url, "VIRTAPI_TOKEN_FILE": str(token),
           "VIRTAPI_CERTNAME": HV01, "VIRTAPI_ROOT": str(root)}  # fmt: skip
    ran = subprocess.run([sys.executable, str(COMMAND), str(schedule["id"]), "--config",
                          str(root / "none.conf")], env=env, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (backup,) = [b for b in _api(server, "GET", f"/api/v1/backups?vm_id={web1['id']}")["results"]
                 if b["storage_id"] == source["id"]]  # fmt: skip
    restored = _api(server, "POST", f"/api/v1/backups/{backup['id']}/restore",
                    {"vm_id": web1["id"]})  # fmt: skip
    apply()

    disks = _file_disks(server)
    clone_file = root / disks[f"{clone['id']}.qcow2"]["path"].lstrip("/")
    shown = subprocess.run(["qemu-img", "info", "--output=json", str(clone_file)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    info = json.loads(shown.stdout)
    assert info["backing-filename"] == str(base) and info["virtual-size"] == 32 * MiB
    assert "verification failed" not in _qemu_io(clone_file, "read -P 0x33 0 1M").stdout
    restored_file = root / disks[f"{restored['id']}.qcow2"]["path"].lstrip("/")
    same = subprocess.run(["qemu-img", "compare", str(source_file), str(restored_file)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert same.returncode == 0, same.stdout + same.stderr
    assert apply() == 0
    for disk in (clone, source, restored):
        _api(server, "DELETE", f"/api/v1/storage/{disk['id']}")


def test_puppet_creates_clones_and_restores(server: Server, tmp_path: Path, puppet: str) -> None:
    _clone_restore_flow(server, *_puppet(server, tmp_path, puppet, "manage_disks"), "puppet")


def test_salt_creates_clones_and_restores(
    server: Server, tmp_path: Path, salt_call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, apply = _salt(server, tmp_path, salt_call, monkeypatch, "manage_disks")
    _clone_restore_flow(server, root, apply, "salt")
