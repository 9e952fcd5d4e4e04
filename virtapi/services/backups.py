"""Scheduled backups: stores, schedules, runs reported by hosts, overdue checks and restores.

A schedule names a VM (all its disks) or one disk, a systemd calendar expression, a retention
count and a store. The hypervisor's document carries one timer per schedule (rendered into
systemd timer/service units by the Puppet module and Salt states); the host reports each run
per disk. Successful backups beyond the retention are dropped from the list when a newer one
is reported (the host prunes the same on the store). A schedule is overdue when it should have
elapsed since its last success (or its creation) more than ``grace`` ago.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import values
from ..models import Backup, BackupSchedule, BackupStore, DiskRestore, Storage, Vm
from ..models.backups import BACKUP_RESULTS, BACKUP_STORE_KINDS
from ..models.base import utcnow
from .calendar import next_elapse
from .caller import Caller
from .errors import Conflict, InvalidInput
from .storage import create_disk
from .validation import checked

MAX_RETENTION = 1000
DEFAULT_GRACE = timedelta(hours=6)


def check_store(data: dict[str, Any]) -> dict[str, Any]:
    """A backup store's values (name, kind, target, description) checked and normalised;
    the API and the import both go through here."""
    kind = data["kind"]
    if kind not in BACKUP_STORE_KINDS:
        raise InvalidInput(
            f"unknown backup store kind {kind!r}; use one of: {', '.join(BACKUP_STORE_KINDS)}",
            errors={"kind": ["unknown"]},
        )
    parser = values.parse_name if kind == "rbd" else values.parse_backup_path
    return {
        "name": checked(values.parse_name, data["name"], "name"),
        "kind": kind,
        "target": checked(parser, data["target"], "target"),
        "description": data.get("description", ""),
    }


def create_store(session: Session, data: dict[str, Any]) -> BackupStore:
    """An operator's backup store: an RBD pool (target: pool name) or a path."""
    store = BackupStore(**check_store(data))
    if session.scalar(select(BackupStore.id).where(BackupStore.name == store.name)):
        raise Conflict(f"a backup store called {store.name!r} exists", errors={"name": ["taken"]})
    session.add(store)
    session.flush()
    return store


def check_calendar(expression: Any, field: str = "on_calendar") -> str:
    """A valid OnCalendar expression that elapses at least once in the coming years."""
    text = checked(values.parse_on_calendar, expression, field)
    if next_elapse(text, utcnow()) is None:
        raise InvalidInput(
            f"{text!r} never elapses (e.g. a day the month does not have)",
            errors={field: ["never elapses"]},
        )
    return text


def check_retention(value: Any) -> int:
    return checked(lambda v: values.parse_int(v, 1, MAX_RETENTION, "retention"), value, "retention")


def create_schedule(
    session: Session,
    subject: Vm | Storage,
    store: BackupStore,
    on_calendar: Any,
    retention: Any,
) -> BackupSchedule:
    """Back up a VM (all its disks) or one disk on a calendar, into ``store``."""
    schedule = BackupSchedule(
        store=store,
        on_calendar=check_calendar(on_calendar),
        retention=check_retention(retention),
    )
    if isinstance(subject, Vm):
        schedule.vm = subject
    else:
        schedule.disk = subject
    session.add(schedule)
    session.flush()
    return schedule


def update_schedule(session: Session, schedule: BackupSchedule, data: dict[str, Any]) -> None:
    if "on_calendar" in data:
        schedule.on_calendar = check_calendar(data["on_calendar"])
    if "retention" in data:
        schedule.retention = check_retention(data["retention"])
    if "store" in data:
        schedule.store = data["store"]
    session.flush()


def _disk_of(session: Session, schedule: BackupSchedule, storage_id: int) -> Storage:
    disk = session.get(Storage, storage_id)
    if schedule.vm_id is not None:
        covered = disk is not None and disk.vm_id == schedule.vm_id
    else:
        covered = disk is not None and disk.id == schedule.storage_id
    if disk is None or not covered:
        raise InvalidInput(
            f"disk {storage_id} is not backed up by schedule {schedule.id}",
            errors={"storage_id": ["not covered by this schedule"]},
        )
    return disk


def report_run(session: Session, schedule: BackupSchedule, data: dict[str, Any]) -> Backup:
    """Record one run for one disk as its host reports it; prune beyond the retention."""
    disk = _disk_of(session, schedule, data["storage_id"])
    result = data["result"]
    if result not in BACKUP_RESULTS:
        raise InvalidInput(
            f"unknown result {result!r}; use one of: {', '.join(BACKUP_RESULTS)}",
            errors={"result": ["unknown"]},
        )
    started, finished = data["started_at"], data.get("finished_at")
    if finished is not None and finished < started:
        raise InvalidInput(
            "finished_at lies before started_at", errors={"finished_at": ["before started_at"]}
        )
    if result != "running" and finished is None:
        raise InvalidInput(
            f"a {result} run needs finished_at", errors={"finished_at": ["required when done"]}
        )
    run = Backup(
        schedule_id=schedule.id,
        store_id=schedule.store_id,
        vm_id=disk.vm_id,
        storage_id=disk.id,
        customer_id=disk.vm.customer_id,
        storage_type_id=disk.storage_type_id,
        size=disk.size,
        started_at=started,
        finished_at=finished,
        bytes=data.get("bytes"),
        result=result,
        message=data.get("message", ""),
    )
    session.add(run)
    session.flush()
    if result == "success":
        _prune(session, schedule, disk.id)
    return run


def _prune(session: Session, schedule: BackupSchedule, storage_id: int) -> None:
    kept = session.scalars(
        select(Backup)
        .where(
            Backup.schedule_id == schedule.id,
            Backup.storage_id == storage_id,
            Backup.result == "success",
        )
        .order_by(Backup.started_at.desc(), Backup.id.desc())
        .offset(schedule.retention)
    ).all()
    restoring = set(
        session.scalars(
            select(DiskRestore.backup_id).where(DiskRestore.backup_id.in_([b.id for b in kept]))
        )
    )
    for backup in kept:
        if backup.id not in restoring:  # a restore in progress still needs it
            session.delete(backup)
    session.flush()


def _oldest_latest(disks: list[int], latest: dict[int, datetime | None]) -> datetime | None:
    """The oldest of the disks' latest successes; None if a disk never had one."""
    found = [latest.get(d) for d in disks]
    if not found or any(f is None for f in found):
        return None
    return min(f for f in found if f is not None)


def last_success(session: Session, schedule: BackupSchedule) -> datetime | None:
    """When the oldest of the schedule's disks last had a successful backup finished; None if
    any of its disks never had one."""
    return last_successes(session, [schedule])[schedule.id]


def last_successes(
    session: Session, schedules: Sequence[BackupSchedule]
) -> dict[int, datetime | None]:
    """`last_success` of each schedule, in at most two statements whatever their number (a
    page of schedules)."""
    if not schedules:
        return {}
    whole_vms = {s.vm_id for s in schedules if s.storage_id is None}
    disks_of: dict[int | None, list[int]] = {}
    if whole_vms:
        for disk_id, vm in session.execute(
            select(Storage.id, Storage.vm_id)
            .where(Storage.vm_id.in_(whole_vms))
            .order_by(Storage.id)
        ):
            disks_of.setdefault(vm, []).append(disk_id)
    latest: dict[tuple[int, int], datetime] = {
        (schedule_id, storage_id): finished
        for schedule_id, storage_id, finished in session.execute(
            select(Backup.schedule_id, Backup.storage_id, func.max(Backup.finished_at))
            .where(Backup.result == "success", Backup.schedule_id.in_([s.id for s in schedules]))
            .group_by(Backup.schedule_id, Backup.storage_id)
        )
    }
    out = {}
    for s in schedules:
        disks = [s.storage_id] if s.storage_id is not None else disks_of.get(s.vm_id, [])
        out[s.id] = _oldest_latest(disks, {d: latest.get((s.id, d)) for d in disks})
    return out


def due_at(on_calendar: str, last: datetime | None, created_at: datetime) -> datetime | None:
    """When the next backup was due after ``last`` (or, never successful, after creation)."""
    return next_elapse(on_calendar, last or created_at)


def overdue(
    schedule: BackupSchedule,
    last: datetime | None,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> bool:
    """Should the schedule have run (successfully) since ``last`` more than ``grace`` ago?"""
    due = due_at(schedule.on_calendar, last, schedule.created_at)
    return due is not None and due + grace < (now or utcnow())


def overdue_schedules(
    session: Session, now: datetime | None = None, grace: timedelta = DEFAULT_GRACE
) -> list[dict[str, Any]]:
    """Every schedule whose last success (of all its disks) is older than its calendar plus
    ``grace`` allows, most overdue first: for the drift report. Three queries in all."""
    now = now or utcnow()
    schedules = session.execute(
        select(
            BackupSchedule.id, BackupSchedule.vm_id, BackupSchedule.storage_id,
            BackupSchedule.on_calendar, BackupSchedule.retention, BackupSchedule.created_at,
            BackupStore.name.label("store"), Vm.id.label("subject_vm"), Vm.hostname,
            Vm.customer_id,
        )
        .join(BackupStore, BackupStore.id == BackupSchedule.store_id)
        .outerjoin(Storage, Storage.id == BackupSchedule.storage_id)
        .join(Vm, Vm.id == func.coalesce(BackupSchedule.vm_id, Storage.vm_id))
    ).all()  # fmt: skip
    disks_of: dict[int, list[int]] = {}
    for disk_id, vm_id in session.execute(select(Storage.id, Storage.vm_id).order_by(Storage.id)):
        disks_of.setdefault(vm_id, []).append(disk_id)
    latest: dict[tuple[int, int], datetime] = {
        (schedule_id, storage_id): finished
        for schedule_id, storage_id, finished in session.execute(
            select(Backup.schedule_id, Backup.storage_id, func.max(Backup.finished_at))
            .where(Backup.result == "success", Backup.schedule_id.is_not(None))
            .group_by(Backup.schedule_id, Backup.storage_id)
        )
    }
    out = []
    for r in schedules:
        disks = [r.storage_id] if r.storage_id is not None else disks_of.get(r.vm_id, [])
        last = _oldest_latest(disks, {d: latest.get((r.id, d)) for d in disks})
        due = due_at(r.on_calendar, last, r.created_at)
        if due is None or due + grace >= now:
            continue
        out.append(
            {
                "schedule_id": r.id,
                "vm_id": r.subject_vm,
                "hostname": r.hostname,
                "customer_id": r.customer_id,
                "storage_id": r.storage_id,
                "on_calendar": r.on_calendar,
                "store": r.store,
                "last_success_at": last,
                "due_at": due,
            }
        )
    out.sort(key=lambda d: (d["due_at"], d["schedule_id"]))
    return out


def restore(
    session: Session, caller: Caller, backup: Backup, vm: Vm, data: dict[str, Any]
) -> Storage:
    """A new disk on ``vm`` (an existing or a newly created VM) filled from ``backup`` by the
    host: same type and size; a ceph disk names its pool."""
    if backup.result != "success":
        raise Conflict(
            f"backup {backup.id} is {backup.result}; only successful backups can be restored",
            code="state",
            errors={"result": [backup.result]},
        )
    disk = create_disk(
        session,
        caller,
        vm,
        {"size": backup.size, "storage_type": backup.storage_type.name, **data},
    )
    session.flush()
    session.add(DiskRestore(storage_id=disk.id, backup_id=backup.id))
    session.flush()
    return disk
