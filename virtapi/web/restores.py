"""The restores list: disks a host fills from a backup (POST /api/v1/backups/<id>/restore or
the form on a backup's page). Customers see their own VMs' only."""

from __future__ import annotations

from typing import Any

from flask import render_template
from marshmallow import fields
from sqlalchemy import func, select

from ..db import get_read_session
from ..models import Backup, BackupStore, DiskRestore, Storage, Vm
from . import bp, login
from .lists import Column, Control, ListSpec

RESTORES = ListSpec(
    endpoint="web.restores",
    columns=(
        Column("disk", "Disk", DiskRestore.storage_id, numeric=True),
        Column("vm", "VM", Vm.hostname),
        Column("size", "Size", Storage.size, numeric=True),
        Column("backup", "Backup", DiskRestore.backup_id, numeric=True),
        Column("store", "Store", BackupStore.name),
        Column("taken", "Backup taken", Backup.finished_at),
    ),
    controls=(
        Control.contains("vm", "VM hostname contains", Vm.hostname, lower=True),
        Control(
            "backup_id",
            "Backup",
            DiskRestore.backup_id,
            fields.Integer(strict=False),
            kind="number",
        ),  # fmt: skip
    ),
    default_sort="-disk",
)


@bp.get("/restores")
@login.signed_in
def restores() -> Any:
    me = login.principal()
    listing = RESTORES.read(staff=not me.is_customer)
    stmt = (
        select(
            DiskRestore.storage_id.label("disk"),
            Vm.hostname.label("vm"),
            Vm.uuid.label("vm_uuid"),
            Storage.size.label("size"),
            DiskRestore.backup_id.label("backup"),
            BackupStore.name.label("store"),
            Backup.finished_at.label("taken"),
        )
        .join(Storage, Storage.id == DiskRestore.storage_id)
        .join(Vm, Vm.id == Storage.vm_id)
        .join(Backup, Backup.id == DiskRestore.backup_id)
        .join(BackupStore, BackupStore.id == Backup.store_id)
        .where(*listing.where())
    )
    if me.is_customer:
        stmt = stmt.where(Vm.customer_id == me.customer_id)
    session = get_read_session()
    listing.total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.order_by(*listing.order()).limit(listing.limit).offset(listing.offset)
    return render_template("restores.html", listing=listing, rows=session.execute(page).all())
