"""Snapshots of disks: requested here, made and removed by the hypervisor, reported back.

The API records what is wanted (a snapshot present, deleted, or a disk rolled back to one);
the node document tells the hypervisor what to do for the disk's storage type; the host
reports each snapshot's state. A deletion is finished only when the host reports it done,
so until then the snapshot still counts against the customer's quota.

    storage type   how the hypervisor snapshots          name on the host
    lvm            LVM thin snapshot of the disk's LV    <vg>/vm<vm>-disk<disk>-snap-<name>
    qcow2          qcow2 internal snapshot (qemu-img)    tag <name> in the disk's file
    ceph           RBD snapshot                          <pool>/vm<vm>-disk<disk>@<name>
    raw            none: a raw file has no snapshots; use qcow2, lvm or ceph
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import values
from ..models import Snapshot, Storage
from ..models.base import utcnow
from ..models.storage import SNAPSHOT_STATES
from .caller import Caller, customer_of
from .errors import Conflict, InvalidInput
from .quotas import check_snapshot_quota
from .validation import checked

# What a host may report a snapshot to be ('pending' is virtapi's own state before that).
REPORTABLE_STATES = tuple(s for s in SNAPSHOT_STATES if s != "pending")

# How each storage type snapshots; a type missing here cannot be snapshotted.
METHODS = {"lvm": "lvm-thin", "qcow2": "qcow2-internal", "ceph": "rbd"}


def check_snapshottable(type_name: str, what: str) -> None:
    """409 unless disks of ``type_name`` have snapshots; shared by the API and the import."""
    if type_name not in METHODS:
        kinds = ", ".join(sorted(METHODS))
        raise Conflict(
            f"{what} is {type_name}, which has no snapshots (possible for: {kinds})",
            errors={"storage_id": [f"storage type {type_name} has no snapshots"]},
            code="unsupported",
        )


def create_snapshot(session: Session, caller: Caller, disk: Storage, name: Any) -> Snapshot:
    """Ask for a snapshot of ``disk``; 409 for raw disks and taken names, 403 over quota."""
    name = checked(values.parse_snapshot_name, name, "name")
    check_snapshottable(disk.storage_type.name, f"disk {disk.id}")
    taken = session.scalar(
        select(Snapshot.id).where(Snapshot.storage_id == disk.id, Snapshot.name == name)
    )
    if taken is not None:
        raise Conflict(
            f"disk {disk.id} already has a snapshot called {name!r} (id {taken})",
            errors={"name": ["already taken on this disk"]},
        )
    # Counted against the disk owner's quota, whoever asks; operators are not held to it.
    if customer_of(caller) is not None:
        check_snapshot_quota(session, disk.vm.customer_id)
    snapshot = Snapshot(disk=disk, name=name, requested_state="present", state="pending")
    session.add(snapshot)
    session.flush()
    return snapshot


def delete_snapshot(session: Session, snapshot: Snapshot) -> None:
    """Ask the host to remove the snapshot. One the host never made (still pending or
    failed, never reported present) has nothing to remove and goes at once."""
    if snapshot.state in ("pending", "failed") and snapshot.reported_at is None:
        session.delete(snapshot)
        session.flush()
        return
    snapshot.requested_state = "deleted"
    snapshot.rollback = False
    session.flush()


def request_rollback(session: Session, snapshot: Snapshot) -> Snapshot:
    """Ask the host to roll the disk back to ``snapshot``; only while its VM is stopped
    (requested and actual), and only to a snapshot the host reported present."""
    disk = snapshot.disk
    vm = disk.vm
    requested, actual = vm.requested_state.name, vm.actual_state.name
    if requested != "stopped" or actual != "stopped":
        raise Conflict(
            f"cannot roll back disk {disk.id} of VM {vm.hostname}: the VM must be stopped "
            f"(requested: {requested}, actual: {actual}); stop it and wait until it is reported "
            "stopped",
            code="state",
            errors={"actual_state": [actual]},
        )
    if snapshot.requested_state != "present" or snapshot.state != "present":
        raise Conflict(
            f"snapshot {snapshot.name!r} is {snapshot.state} (requested: "
            f"{snapshot.requested_state}); only a present snapshot can be rolled back to",
            code="state",
            errors={"state": [snapshot.state]},
        )
    for other in disk.snapshots:
        other.rollback = other.id == snapshot.id
    session.flush()
    return snapshot


def report_snapshot(
    session: Session,
    snapshot: Snapshot,
    state: str,
    rolled_back: bool = False,
    now: datetime | None = None,
) -> bool:
    """A host reports what the snapshot is (and whether a requested rollback is done).
    Returns True when the report confirmed a requested deletion and the row is gone."""
    if state not in REPORTABLE_STATES:
        allowed = ", ".join(REPORTABLE_STATES)
        raise InvalidInput(
            f"{state!r} cannot be reported; report one of: {allowed}",
            errors={"state": ["not reportable"]},
        )
    if state == "deleted" and snapshot.requested_state == "deleted":
        session.delete(snapshot)
        session.flush()
        return True
    snapshot.state = state
    snapshot.reported_at = now or utcnow()
    if rolled_back:
        snapshot.rollback = False
    session.flush()
    return False


def host_instructions(
    disk_type: str, location: dict[str, Any], base: str, name: str
) -> dict[str, Any]:
    """What the hypervisor runs for one snapshot of a disk of ``disk_type``; ``location`` is
    the disk's own entry in the node document (lv, path or pool/image)."""
    method = METHODS.get(disk_type)
    if method == "lvm-thin":
        lv = location.get("lv")
        vg = lv.split("/", 1)[0] if lv else None
        return {"method": method, "lv": f"{vg}/{base}-snap-{name}" if vg else None}
    if method == "qcow2-internal":
        return {"method": method, "path": location.get("path"), "tag": name}
    if method == "rbd":
        return {"method": method, "spec": f"{location.get('pool')}/{base}@{name}"}
    return {"method": None}
