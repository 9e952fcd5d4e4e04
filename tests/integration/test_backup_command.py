"""The backup command the timers run (puppet/modules/virtapi/files/virtapi-backup, shipped by
the Puppet class and the Salt state): a real qcow2 disk copied with the real qemu-img into a
path store below a temporary root, retention pruned, each run reported to a live virtapi and
listed by the API afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.storage_host import COMMAND, HV01, WEB1, MiB, qemu_server
from tests.integration.storage_host import api as _api
from tests.support.paths import REPO
from tests.support.server import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with qemu_server(tmp_path_factory, "backup") as live:
        yield live


def _backup(server: Server, root: Path, token: Path, schedule_id: int) -> Any:
    env = {
        **os.environ,
        "VIRTAPI_URL": server.url,
        "VIRTAPI_TOKEN_FILE": str(token),
        "VIRTAPI_CERTNAME": HV01,
        "VIRTAPI_ROOT": str(root),
        "SCHEDULE_ID": str(schedule_id),
    }
    return subprocess.run(
        [sys.executable, str(COMMAND), "--config", str(root / "none.conf")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_backup_command_copies_prunes_and_reports(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "root"
    token = tmp_path / "token"
    token.write_text(server.tokens["reader"] + "\n")
    web1 = _api(server, "GET", f"/api/v1/vms?hostname={WEB1}")["results"][0]["id"]
    disk = _api(server, "POST", "/api/v1/storage",
                {"vm_id": web1, "size": 64 * MiB, "storage_type": "qcow2"})  # fmt: skip
    # The disk where the document says it is (hv01's local_storage_path), below the root.
    document = _api(server, "GET", f"/pillar/{HV01}")["virtapi"]["hypervisor"]
    entry = next(
        d
        for vm in document["vms"]
        for d in vm["disks"]
        if d["type"] == "qcow2" and d["path"].endswith(f"-disk{disk['id']}.qcow2")
    )
    source = root / entry["path"].lstrip("/")
    source.parent.mkdir(parents=True)
    raw = tmp_path / "data.raw"
    raw.write_bytes(os.urandom(MiB) + b"\0" * (3 * MiB) + os.urandom(MiB))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(source)],
                   check=True)  # fmt: skip
    _api(server, "POST", "/api/v1/backup-stores",
         {"name": "local", "kind": "path", "target": "/backups"})  # fmt: skip
    schedule = _api(server, "POST", "/api/v1/backup-schedules",
                    {"storage_id": disk["id"], "store": "local", "on_calendar": "daily",
                     "retention": 2})  # fmt: skip

    for _ in range(3):
        done = _backup(server, root, token, schedule["id"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert "success" in done.stdout
    # Named as the node document's restore_from.copy names them: <disk>/<UTC start>.qcow2.
    folder = root / "backups" / Path(entry["path"]).stem
    copies = sorted(folder.iterdir())
    assert len(copies) == 2 and all(c.suffix == ".qcow2" for c in copies)  # retention 2
    for copy in copies:
        same = subprocess.run(["qemu-img", "compare", str(source), str(copy)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert same.returncode == 0, same.stdout + same.stderr

    listed = _api(server, "GET", f"/api/v1/backups?vm_id={web1}")["results"]
    ours = [b for b in listed if b["storage_id"] == disk["id"]]
    assert [b["result"] for b in ours] == ["success", "success"]
    assert sorted(b["bytes"] for b in ours) == sorted(c.stat().st_size for c in copies)
    assert _api(server, "GET", f"/api/v1/backup-schedules/{schedule['id']}")["last_success_at"]

    # A disk that is not there: the run is reported failed, and the command says so.
    source.unlink()
    failed = _backup(server, root, token, schedule["id"])
    assert failed.returncode == 1 and "failed" in failed.stdout
    runs = _api(server, "GET", f"/api/v1/backups?vm_id={web1}")["results"]
    last = [b for b in runs if b["storage_id"] == disk["id"]][-1]
    assert last["result"] == "failed" and "qemu-img" in last["message"]
    assert len(sorted(folder.iterdir())) == 2  # a failure prunes nothing

    unknown = _backup(server, root, token, 999999)
    assert unknown.returncode == 2 and "no backup schedule 999999" in unknown.stderr


def test_salt_ships_the_same_command() -> None:
    salt_copy = REPO / "salt/states/virtapi/files/virtapi-backup"
    assert salt_copy.read_bytes() == COMMAND.read_bytes()
    assert os.access(COMMAND, os.X_OK)
