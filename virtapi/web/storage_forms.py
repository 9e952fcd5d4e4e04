"""The two storage actions that are not create/update/delete: roll a disk back to a snapshot,
restore a backup into a new disk. Each posts from the object's page to the service function
its REST endpoint calls (POST /api/v1/snapshots/<id>/rollback, /backups/<id>/restore)."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from sqlalchemy.orm import Session

from ..api import crud
from ..api.backups import BACKUPS, RestoreSchema
from ..api.snapshots import SNAPSHOTS
from ..auth import CUSTOMERS_AND_OPERATORS
from ..models import Vm
from ..services import backups as backup_service
from ..services import snapshots as snapshot_service
from . import admin, bp, forms, login


def _act(resource: crud.Resource, key: int, work: Any) -> Any:
    me = login.principal()
    if me.role not in CUSTOMERS_AND_OPERATORS:
        abort(403, f"the {me.role} role may not change {resource.path}")
    login.check_csrf()
    outcome = forms.run(work)
    if outcome.ok:
        return redirect(url_for("web.inventory_edit", path=resource.path, key=key), code=303)
    return admin.edit_page(resource, key, outcome)


@bp.post("/inventory/snapshots/<int:key>/rollback")
@login.signed_in
def snapshot_rollback(key: int) -> Any:
    def work(session: Session) -> Any:
        snapshot = crud.load(session, SNAPSHOTS, login.principal(), key, lock=True)
        return snapshot_service.request_rollback(session, snapshot)

    return _act(SNAPSHOTS, key, work)


@bp.post("/inventory/backups/<int:key>/restore")
@login.signed_in
def backup_restore(key: int) -> Any:
    body = forms.present(
        vm_id=forms.integer(request.form, "vm_id") if request.form.get("vm_id") else None,
        ceph_pool=forms.text(request.form, "ceph_pool"),
        cache_option=forms.text(request.form, "cache_option"),
    )

    def work(session: Session) -> Any:
        principal = login.principal()
        data = RestoreSchema().load(body)
        backup = crud.load(session, BACKUPS, principal, key)
        vm = crud.load_ref(session, principal, Vm, data.pop("vm_id"), "vm_id")
        return backup_service.restore(session, principal, backup, vm, data)

    return _act(BACKUPS, key, work)
