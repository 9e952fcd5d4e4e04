"""Hosts carry out snapshots (issue 17): real Puppet applies hv01's catalog from a live
virtapi into a temporary root with snapshots managed, on a real qcow2 file and the real
qemu-img: the snapshot is made and reported present, a second run changes nothing, a
requested rollback restores the data once and is reported, a deletion removes it and the
report removes it from virtapi."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import skip_or_fail
from tests.integration.test_puppet import PuppetSite
from tests.integration.test_salt import Minion
from tests.support.server import Server, running_server

pytestmark = pytest.mark.integration

HV01 = "hv01.dc1.example.com"
WEB1 = "web1.c1001.example.net"
MiB = 1024**2


def _api(server: Server, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {server.tokens['admin']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        raw = resp.read()
        return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        skip_or_fail("qemu-img/qemu-io are not installed (Debian: qemu-utils)")
    base = tmp_path_factory.mktemp("snapshots")
    with running_server(base, f"sqlite:///{base / 'virtapi.sqlite'}", workers=1) as live:
        yield live


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
    token = tmp_path / "token"
    token.write_text(server.tokens["reader"] + "\n")
    site = PuppetSite(tmp_path / "site", server, token, puppet)
    data = site.env_dir / "data" / "common.yaml"
    local = yaml.safe_load(data.read_text())
    data.write_text(yaml.safe_dump({**local, "virtapi::hypervisor::manage_snapshots": True}))
    # The report command reads these (in production: /etc/virtapi/backup.conf).
    site.env.update(VIRTAPI_URL=server.url, VIRTAPI_TOKEN_FILE=str(token))

    def apply() -> int:
        result = site.run("apply", "--certname", HV01, "-e", "", "--detailed-exitcodes")
        assert result.returncode in (0, 2), result.stdout + result.stderr
        return result.returncode

    apply()  # the rest of hv01's catalog first, so later runs change only snapshots
    _snapshot_flow(server, site.root, apply)


def test_salt_makes_reports_rolls_back_and_removes_a_qcow2_snapshot(
    server: Server, tmp_path: Path, salt_call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text(server.tokens["reader"] + "\n")
    minion = Minion(tmp_path / "salt", salt_call, HV01, server.url, token)
    minion.config["virtapi_manage_snapshots"] = True
    minion.write()
    monkeypatch.setenv("VIRTAPI_URL", server.url)
    monkeypatch.setenv("VIRTAPI_TOKEN_FILE", str(token))

    def apply() -> int:
        result, states = minion.call("state.apply", "virtapi")
        assert result.returncode == 0 and isinstance(states, dict), result.stdout + result.stderr
        failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
        assert not failed, failed
        return 2 if any(v["changes"] for v in states.values()) else 0

    apply()
    _snapshot_flow(server, minion.out, apply)
