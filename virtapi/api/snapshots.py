"""Snapshots of disks: create, list, delete, roll back; hosts report their state.

- ``/api/v1/snapshots``: the CRUD resource (customers: snapshots of their own VMs' disks).
  DELETE asks the host to remove the snapshot; it stays listed (requested_state ``deleted``)
  until the host reports it gone.
- ``POST /api/v1/snapshots/<id>/rollback``: roll the disk back (VM stopped, else 409).
- ``POST /api/v1/snapshots/<id>/report``: a host reports the snapshot's state.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session, joinedload

from ..auth import CUSTOMERS_AND_OPERATORS, EVERYONE, READERS, Principal, current_principal, require
from ..db import get_session
from ..models import Snapshot, Storage, Vm
from ..models.storage import SNAPSHOT_STATES
from ..services import snapshots as snapshot_service
from ..services import value_fields
from . import crud
from .etag import etag_of
from .fields import boolean, ref_id
from .filters import Filter

blp = Blueprint("snapshots", __name__, url_prefix="/api/v1", description="Snapshots of disks")


class SnapshotSchema(Schema):
    id = fields.Integer(required=True)
    storage_id = fields.Integer(required=True)
    vm_id = fields.Integer(required=True, attribute="disk.vm_id")
    storage_type = fields.String(required=True, attribute="disk.storage_type.name")
    method = fields.Function(
        lambda s: snapshot_service.METHODS.get(s.disk.storage_type.name),
        required=True,
        metadata={"type": "string", "description": "lvm-thin, qcow2-internal or rbd"},
    )
    name = fields.String(required=True)
    requested_state = fields.String(
        required=True, metadata={"description": "present, or deleted (waiting for the host)"}
    )
    state = fields.String(
        required=True,
        metadata={"description": "as the host reported it: " + ", ".join(SNAPSHOT_STATES)},
    )
    rollback = fields.Boolean(
        required=True, metadata={"description": "a rollback to this snapshot waits for the host"}
    )
    created_at = fields.DateTime(required=True)
    reported_at = fields.DateTime(required=True, allow_none=True)


class SnapshotCreateSchema(Schema):
    storage_id = ref_id(required=True, metadata={"description": "the disk"})
    name = value_fields.snapshot_name(required=True)


class SnapshotReportSchema(Schema):
    state = fields.String(
        required=True, validate=validate.OneOf(snapshot_service.REPORTABLE_STATES)
    )
    rolled_back = boolean(
        load_default=False, metadata={"description": "the requested rollback is done"}
    )


def _create(session: Session, principal: Principal, data: dict[str, Any]) -> Snapshot:
    disk = crud.load_ref(session, principal, Storage, data["storage_id"], "storage_id")
    return snapshot_service.create_snapshot(session, principal, disk, data["name"])


SNAPSHOTS = crud.register(
    blp,
    crud.Resource(
        path="snapshots",
        model=Snapshot,
        title="snapshot",
        schema=SnapshotSchema,
        create_schema=SnapshotCreateSchema,
        filters={
            "storage_id": Filter(ref_id(), Snapshot.storage_id),
            "vm_id": Filter(ref_id(), lambda v: Snapshot.disk.has(Storage.vm_id == v)),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=lambda c: Snapshot.disk.has(Storage.vm.has(Vm.customer_id == c)),
        options=(joinedload(Snapshot.disk),),
        create=_create,
        delete=lambda session, principal, s: snapshot_service.delete_snapshot(session, s),
        description=(
            "Snapshots of disks (lvm, qcow2, ceph; raw disks have none). Customers manage the "
            "snapshots of their own VMs' disks within their snapshot quota. DELETE asks the "
            "host to remove one; it stays listed with requested_state 'deleted' until the host "
            "reports it gone. Filters: storage_id, vm_id."
        ),
    ),
)


def _body(snapshot: Snapshot) -> Response:
    data = SnapshotSchema().dump(snapshot)
    return crud.json_response(data, 200, {"ETag": etag_of(data)})


@blp.route("/snapshots/<int:id>/rollback")
class SnapshotRollback(MethodView):
    @require(CUSTOMERS_AND_OPERATORS)
    @blp.response(200, SnapshotSchema)
    @crud.document_errors(blp, 401, 403, 404, 409)
    def post(self, id: int) -> Response:
        """Roll the disk back to this snapshot

        Only while the disk's VM is stopped (requested and reported); 409 with the reason
        otherwise. The host rolls back and reports ``rolled_back``.
        """
        session = get_session()
        snapshot = crud.load(session, SNAPSHOTS, current_principal(), id, lock=True)
        snapshot_service.request_rollback(session, snapshot)
        session.commit()
        return _body(crud.load(session, SNAPSHOTS, current_principal(), id))


@blp.route("/snapshots/<int:id>/report")
class SnapshotReport(MethodView):
    @require(READERS)
    @blp.arguments(SnapshotReportSchema)
    @blp.response(200, SnapshotSchema)
    @crud.document_errors(blp, 401, 403, 404, 422)
    def post(self, data: dict[str, Any], id: int) -> Response:
        """A host reports a snapshot's state

        For hypervisors (reader token). Reporting ``deleted`` for a snapshot whose deletion
        was requested removes it (204).
        """
        session = get_session()
        snapshot = crud.load(session, SNAPSHOTS, current_principal(), id, lock=True)
        gone = snapshot_service.report_snapshot(
            session, snapshot, data["state"], rolled_back=data["rolled_back"]
        )
        session.commit()
        if gone:
            return Response(status=204)
        return _body(crud.load(session, SNAPSHOTS, current_principal(), id))
