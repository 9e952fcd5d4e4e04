"""Overdue backups for the drift report (issue 17): the last success of all a schedule's disks
against its OnCalendar expression plus the grace, at fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.support.queries import statements_sent
from virtapi.db import Database
from virtapi.models import BackupSchedule, Storage, Vm
from virtapi.services import backups
from virtapi.services.audit import set_actor
from virtapi.services.demo import load_demo

CREATED = datetime(2026, 11, 1, tzinfo=UTC)


def _vm(s: Any, short: str) -> Vm:
    return s.scalars(select(Vm).where(Vm.hostname.startswith(f"{short}."))).one()


def _success(s: Any, schedule: BackupSchedule, disk: Storage, finished: datetime) -> None:
    backups.report_run(
        s,
        schedule,
        {
            "storage_id": disk.id,
            "started_at": finished - timedelta(minutes=10),
            "finished_at": finished,
            "result": "success",
            "bytes": 1,
        },
    )


def test_overdue_schedules_follow_the_calendar(database: Database) -> None:
    with database.session() as s:
        set_actor(s, None, "test")
        load_demo(s)
        store = backups.create_store(s, {"name": "nfs1", "kind": "path", "target": "/srv/b"})
        web1, db1 = _vm(s, "web1"), _vm(s, "db1")
        whole = backups.create_schedule(s, db1, store, "daily", 3)
        one_disk = backups.create_schedule(s, web1.disks[0], store, "Mon 03:00", 3)
        whole.created_at = one_disk.created_at = CREATED
        disks = sorted(db1.disks, key=lambda d: d.id)
        assert len(disks) >= 2
        # The oldest disk's latest success counts; a later failure changes nothing.
        _success(s, whole, disks[0], datetime(2026, 11, 10, 1, tzinfo=UTC))
        _success(s, whole, disks[1], datetime(2026, 11, 9, 23, tzinfo=UTC))
        _success(s, whole, disks[1], datetime(2026, 11, 8, 1, tzinfo=UTC))
        for disk in disks[2:]:
            _success(s, whole, disk, datetime(2026, 11, 10, 2, tzinfo=UTC))
        backups.report_run(
            s,
            whole,
            {
                "storage_id": disks[0].id,
                "started_at": datetime(2026, 11, 11, 1, tzinfo=UTC),
                "finished_at": datetime(2026, 11, 11, 2, tzinfo=UTC),
                "result": "failed",
            },
        )
        s.flush()

        # daily: due 2026-11-10 00:00 after the 09 23:00 success; 6 h grace ends 06:00.
        due = datetime(2026, 11, 10, tzinfo=UTC)
        assert backups.overdue_schedules(s, now=due + timedelta(hours=5)) == [
            {
                "schedule_id": one_disk.id,
                "vm_id": web1.id,
                "hostname": web1.hostname,
                "customer_id": web1.customer_id,
                "storage_id": one_disk.storage_id,
                "on_calendar": "Mon 03:00",
                "store": "nfs1",
                "last_success_at": None,  # never: due at the first Monday after creation
                "due_at": datetime(2026, 11, 2, 3, tzinfo=UTC),
            }
        ]
        later = backups.overdue_schedules(s, now=due + timedelta(hours=6, seconds=1))
        assert [(o["schedule_id"], o["last_success_at"], o["due_at"]) for o in later] == [
            (one_disk.id, None, datetime(2026, 11, 2, 3, tzinfo=UTC)),
            (whole.id, datetime(2026, 11, 9, 23, tzinfo=UTC), due),
        ]
        assert later[1]["storage_id"] is None and later[1]["hostname"] == db1.hostname
        # The per-schedule check of the API (its ``overdue`` field) agrees with the list.
        last = backups.last_success(s, whole)
        assert not backups.overdue(whole, last, now=due + timedelta(hours=5))
        assert backups.overdue(whole, last, now=due + timedelta(hours=6, seconds=1))

        # A fresh success of the lagging disk clears the VM's schedule.
        _success(s, whole, disks[1], datetime(2026, 11, 10, 3, tzinfo=UTC))
        s.flush()
        cleared = backups.overdue_schedules(s, now=due + timedelta(hours=7))
        assert [o["schedule_id"] for o in cleared] == [one_disk.id]

        # A constant number of statements, however many schedules and runs.
        with statements_sent(database.engine) as statements:
            backups.overdue_schedules(s, now=due)
        assert len(statements) == 3, statements
