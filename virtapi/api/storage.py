"""Disks of VMs."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session, aliased, selectinload

from ..auth import CUSTOMERS_AND_OPERATORS, EVERYONE, Principal
from ..models import BaseImage, CacheOption, CephPool, Storage, StorageCeph, StorageType, Vm
from ..services import storage as storage_service
from . import crud, reads
from .fields import NameOrId, boolean, int64, ref_id, string
from .filters import Filter

blp = Blueprint("storage", __name__, url_prefix="/api/v1", description="Disks")


def _limit(**kwargs: Any) -> fields.Integer:
    return int64(1, allow_none=True, **kwargs)


class DiskSchema(Schema):
    id = fields.Integer(required=True)
    vm_id = fields.Integer(required=True)
    size = fields.Integer(required=True, metadata={"description": "bytes"})
    storage_type = fields.String(required=True, attribute="storage_type.name")
    cache_option = fields.String(required=True, attribute="cache_option.name")
    ceph_pool = fields.Function(
        lambda d: d.ceph.ceph_pool.name if d.ceph else None,
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": "ceph disks only"},
    )
    discard = fields.Function(
        lambda d: d.ceph.discard if d.ceph else None,
        required=True,
        allow_none=True,
        metadata={"type": "boolean", "description": "ceph disks only"},
    )
    read_iops_limit = fields.Integer(required=True, allow_none=True)
    write_iops_limit = fields.Integer(required=True, allow_none=True)
    read_bps_limit = fields.Integer(required=True, allow_none=True)
    write_bps_limit = fields.Integer(required=True, allow_none=True)
    base_image = fields.Function(
        lambda d: d.base_image.name if d.base_image else None,
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": "golden image this disk is a clone of"},
    )


def _disk_shape() -> reads.Shape:
    # Aliases: the filters' EXISTS subqueries must not correlate to the shape's joins.
    kind, cache, ceph = aliased(StorageType), aliased(CacheOption), aliased(StorageCeph)
    pool, image = aliased(CephPool), aliased(BaseImage)
    return reads.Shape(
        DiskSchema,
        Storage,
        {
            "storage_type": kind.name,
            "cache_option": cache.name,
            "ceph_pool": pool.name,
            "discard": ceph.discard,
            "base_image": image.name,
        },
        joins=(
            (kind, kind.id == Storage.storage_type_id),
            (cache, cache.id == Storage.cache_option_id),
            (ceph, ceph.storage_id == Storage.id),
            (pool, pool.id == ceph.ceph_pool_id),
            (image, image.id == Storage.base_image_id),
        ),
    )


DISK_SHAPE = _disk_shape()


class DiskCreateSchema(Schema):
    vm_id = ref_id(required=True)
    size = int64(1, required=True, metadata={"description": "bytes"})
    storage_type = NameOrId(required=True, metadata={"description": "lvm, qcow2, raw, ceph"})
    cache_option = NameOrId(metadata={"description": "default if omitted"})
    ceph_pool = NameOrId(metadata={"description": "required for ceph disks"})
    discard = boolean(metadata={"description": "ceph disks only (default true)"})
    base_image = NameOrId(
        metadata={"description": "create as a copy-on-write clone of this golden image"}
    )
    read_iops_limit = _limit(metadata={"description": "operators only"})
    write_iops_limit = _limit(metadata={"description": "operators only"})
    read_bps_limit = _limit(metadata={"description": "operators only"})
    write_bps_limit = _limit(metadata={"description": "operators only"})


class DiskUpdateSchema(Schema):
    size = int64(1, metadata={"description": "bytes"})
    cache_option = NameOrId()
    ceph_pool = NameOrId()
    discard = boolean()
    read_iops_limit = _limit()
    write_iops_limit = _limit()
    read_bps_limit = _limit()
    write_bps_limit = _limit()


def create_disk(session: Session, principal: Principal, data: dict[str, Any]) -> Storage:
    values = dict(data)
    vm = crud.load_ref(session, principal, Vm, values.pop("vm_id"), "vm_id")
    return storage_service.create_disk(session, principal, vm, values)


STORAGE = crud.register(
    blp,
    crud.Resource(
        path="storage",
        model=Storage,
        title="disk",
        schema=DiskSchema,
        create_schema=DiskCreateSchema,
        update_schema=DiskUpdateSchema,
        filters={
            "vm_id": Filter(ref_id(), Storage.vm_id),
            "storage_type": Filter(
                string(32), lambda v: Storage.storage_type.has(StorageType.name == v)
            ),
            "ceph_pool": Filter(
                string(128),
                lambda v: Storage.ceph.has(StorageCeph.ceph_pool.has(CephPool.name == v)),
            ),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=lambda c: Storage.vm.has(Vm.customer_id == c),
        options=(selectinload(Storage.ceph).joinedload(StorageCeph.ceph_pool),),
        shape=DISK_SHAPE,
        create=create_disk,
        update=storage_service.update_disk,
        delete=lambda session, principal, disk: storage_service.delete_disk(session, disk),
        description=(
            "Disks of VMs. A ceph disk names its pool. Customers manage the disks of their own "
            "VMs within their disk quota; I/O limits are for operators. "
            "Filters: vm_id, storage_type, ceph_pool."
        ),
    ),
)
