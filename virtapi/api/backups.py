"""Backups (issue 17): stores (operators), schedules per VM or disk, runs hosts report,
the backups list with their age, restores into a new disk of an existing or new VM.

- ``/api/v1/backup-stores``, ``/api/v1/backup-schedules``, ``/api/v1/backups`` (CRUD);
- ``POST /api/v1/backup-schedules/<id>/runs``: a host reports one run for one disk;
- ``POST /api/v1/backups/<id>/restore``: a new disk on ``vm_id`` filled from the backup.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema
from sqlalchemy import or_
from sqlalchemy.orm import Session

from ..auth import CUSTOMERS_AND_OPERATORS, EVERYONE, READERS, Principal, current_principal, require
from ..db import get_session
from ..models import Backup, BackupSchedule, BackupStore, Storage, Vm
from ..models.backups import BACKUP_RESULTS, BACKUP_STORE_KINDS
from ..models.base import utcnow
from ..services import backups as service
from ..services import value_fields
from ..services.vocabulary import resolve
from . import crud
from .fields import NameOrId, int32, int64, ref_id, string, with_rule
from .filters import Filter
from .storage import DiskSchema

blp = Blueprint("backups", __name__, url_prefix="/api/v1", description="Scheduled backups")


# --- stores -------------------------------------------------------------------------------


class StoreSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "rbd or path"})
    target = fields.String(required=True, metadata={"description": "RBD pool or path"})
    description = fields.String(required=True)


class StoreCreateSchema(Schema):
    name = value_fields.name(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(BACKUP_STORE_KINDS))
    target = with_rule(
        string(1024, required=True, metadata={"example": "backup01:/srv/backups"}),
        "target is a pool name for kind rbd, a backup path for kind path",
    )
    description = string(None, load_default="")


class StoreUpdateSchema(Schema):
    description = string(None)


STORES = crud.register(
    blp,
    crud.Resource(
        path="backup-stores",
        model=BackupStore,
        title="backup store",
        schema=StoreSchema,
        create_schema=StoreCreateSchema,
        update_schema=StoreUpdateSchema,
        read_roles=EVERYONE,
        create=lambda session, principal, data: service.create_store(session, data),
        description="Where backups go: an RBD pool or a path on the backup network (operators).",
    ),
)


# --- schedules ----------------------------------------------------------------------------


class ScheduleSchema(Schema):
    id = fields.Integer(required=True)
    vm_id = fields.Integer(required=True, allow_none=True)
    storage_id = fields.Integer(required=True, allow_none=True)
    store = fields.String(required=True, attribute="store.name")
    on_calendar = fields.String(required=True)
    retention = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    last_success_at = fields.Method(
        "_last", required=True, allow_none=True, metadata={"type": "string", "format": "date-time"}
    )
    overdue = fields.Method(
        "_overdue",
        required=True,
        metadata={"type": "boolean", "description": "should have succeeded by now"},
    )

    @pre_dump(pass_collection=True)
    def _read_last_successes(self, data: Any, many: bool, **_: Any) -> Any:
        # One batch for a whole page (two statements), not four per schedule.
        schedules = list(data) if many else [data]
        session = Session.object_session(schedules[0]) if schedules else None
        self._last_success = service.last_successes(session, schedules) if session else {}
        return data

    def _last(self, schedule: BackupSchedule) -> str | None:
        last = self._last_success.get(schedule.id)
        return last.isoformat() if last else None

    def _overdue(self, schedule: BackupSchedule) -> bool:
        return service.overdue(schedule, self._last_success.get(schedule.id))


class ScheduleCreateSchema(Schema):
    vm_id = ref_id(metadata={"description": "back up all disks of this VM (or give storage_id)"})
    storage_id = ref_id(metadata={"description": "back up this disk (or give vm_id)"})
    store = NameOrId(required=True)
    on_calendar = string(
        256, required=True, metadata={"description": "systemd OnCalendar", "example": "daily"}
    )
    retention = int32(1, service.MAX_RETENTION, required=True)

    @validates_schema
    def _one_subject(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("vm_id" in data) == ("storage_id" in data):
            raise ValidationError("give exactly one of vm_id and storage_id", "vm_id")


class ScheduleUpdateSchema(Schema):
    store = NameOrId()
    on_calendar = string(256)
    retention = int32(1, service.MAX_RETENTION)


def _store(session: Session, principal: Principal, value: Any) -> BackupStore:
    return resolve(session, BackupStore, value, "store")


def _create_schedule(session: Session, principal: Principal, data: dict[str, Any]) -> Any:
    if "vm_id" in data:
        subject = crud.load_ref(session, principal, Vm, data["vm_id"], "vm_id")
    else:
        subject = crud.load_ref(session, principal, Storage, data["storage_id"], "storage_id")
    store = _store(session, principal, data["store"])
    return service.create_schedule(session, subject, store, data["on_calendar"], data["retention"])


def _update_schedule(
    session: Session, principal: Principal, schedule: BackupSchedule, data: dict[str, Any]
) -> None:
    values = dict(data)
    if "store" in values:
        values["store"] = _store(session, principal, values["store"])
    service.update_schedule(session, schedule, values)


SCHEDULES = crud.register(
    blp,
    crud.Resource(
        path="backup-schedules",
        model=BackupSchedule,
        title="backup schedule",
        schema=ScheduleSchema,
        create_schema=ScheduleCreateSchema,
        update_schema=ScheduleUpdateSchema,
        filters={
            "vm_id": Filter(ref_id(), BackupSchedule.vm_id),
            "storage_id": Filter(ref_id(), BackupSchedule.storage_id),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=lambda c: or_(
            BackupSchedule.vm.has(Vm.customer_id == c),
            BackupSchedule.disk.has(Storage.vm.has(Vm.customer_id == c)),
        ),
        create=_create_schedule,
        update=_update_schedule,
        description=(
            "Back up a VM (all disks) or one disk whenever the systemd OnCalendar expression "
            "elapses, keeping `retention` successful backups per disk, into a backup store. "
            "`overdue`: no success since the schedule last elapsed (6 h grace)."
        ),
    ),
)


# --- backups (runs) -----------------------------------------------------------------------


class BackupSchema(Schema):
    id = fields.Integer(required=True)
    schedule_id = fields.Integer(required=True, allow_none=True)
    vm_id = fields.Integer(required=True, allow_none=True)
    storage_id = fields.Integer(required=True, allow_none=True)
    store = fields.String(required=True, attribute="store.name")
    storage_type = fields.String(required=True, attribute="storage_type.name")
    size = fields.Integer(required=True)
    started_at = fields.DateTime(required=True)
    finished_at = fields.DateTime(required=True, allow_none=True)
    bytes = fields.Integer(required=True, allow_none=True)
    result = fields.String(required=True)
    message = fields.String(required=True)
    age_seconds = fields.Function(
        lambda b: int((utcnow() - (b.finished_at or b.started_at)).total_seconds()),
        required=True,
        metadata={"type": "integer", "description": "since it finished (or started)"},
    )


BACKUPS = crud.register(
    blp,
    crud.Resource(
        path="backups",
        model=Backup,
        title="backup",
        schema=BackupSchema,
        deletable=False,
        filters={
            "vm_id": Filter(ref_id(), Backup.vm_id),
            "storage_id": Filter(ref_id(), Backup.storage_id),
            "schedule_id": Filter(ref_id(), Backup.schedule_id),
            "result": Filter(string(16), Backup.result),
        },
        read_roles=EVERYONE,
        customer_scope=lambda c: Backup.customer_id == c,
        description=(
            "Backups as hosts reported them, with their age. Filters: vm_id, storage_id, "
            "schedule_id, result."
        ),
    ),
)


class RunSchema(Schema):
    storage_id = ref_id(required=True)
    started_at = fields.AwareDateTime(required=True)
    finished_at = fields.AwareDateTime(allow_none=True, load_default=None)
    bytes = int64(0, allow_none=True, load_default=None)
    result = string(16, required=True, metadata={"description": ", ".join(BACKUP_RESULTS)})
    message = string(None, load_default="")


@blp.route("/backup-schedules/<int:id>/runs")
class ScheduleRuns(MethodView):
    @require(READERS)
    @blp.arguments(RunSchema)
    @blp.response(201, BackupSchema)
    @crud.document_errors(blp, 401, 403, 404, 422)
    def post(self, data: dict[str, Any], id: int) -> Any:
        """A host reports one backup run of one disk

        For hypervisors (reader token): start, end, bytes and result.
        """
        session = get_session()
        schedule = crud.load(session, SCHEDULES, current_principal(), id, lock=True)
        run = service.report_run(session, schedule, data)
        run_id = run.id
        session.commit()
        return crud.json_response(
            BackupSchema().dump(crud.load(session, BACKUPS, current_principal(), run_id)), 201
        )


class RestoreSchema(Schema):
    vm_id = ref_id(required=True, metadata={"description": "the VM (existing or new) to get it"})
    ceph_pool = NameOrId(metadata={"description": "for ceph backups"})
    cache_option = NameOrId()


@blp.route("/backups/<int:id>/restore")
class BackupRestore(MethodView):
    @require(CUSTOMERS_AND_OPERATORS)
    @blp.arguments(RestoreSchema)
    @blp.response(201, DiskSchema)
    @crud.document_errors(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], id: int) -> Response:
        """Restore a backup into a new disk

        The disk gets the backup's type and size on the VM named (create a VM first to
        restore into a new VM); its host fills it from the backup store.
        """
        session, principal = get_session(), current_principal()
        backup = crud.load(session, BACKUPS, principal, id)
        values = dict(data)
        vm = crud.load_ref(session, principal, Vm, values.pop("vm_id"), "vm_id")
        disk = service.restore(session, principal, backup, vm, values)
        disk_id = disk.id
        session.commit()
        body = DiskSchema().dump(crud.load(session, crud.resource_for(Storage), principal, disk_id))
        return crud.json_response(body, 201)
