"""Small name/description tables: node and VM states, virt methods, storage types, cache options,
Ceph pools. Operators maintain them; every role reads those a customer needs."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from ..auth import EVERYONE, READERS, Principal
from ..models import CacheOption, CephPool, NodeState, StorageType, VirtMethod, VmState
from ..services import ceph as ceph_service
from . import crud
from .fields import NameOrId, name_field, string
from .filters import Filter

blp = Blueprint(
    "vocabularies", __name__, url_prefix="/api/v1", description="States, methods, types, pools"
)


class VocabularySchema(Schema):
    id = fields.Integer(dump_only=True)
    name = name_field(32, required=True)
    description = string(None, load_default="")


class VocabularyUpdateSchema(Schema):
    name = name_field(32)
    description = string(None)


class CephPoolSchema(VocabularySchema):
    name = name_field(required=True)
    ceph_cluster_id = fields.Integer(dump_only=True, allow_none=True)
    ceph_cluster = NameOrId(
        load_only=True, allow_none=True, metadata={"description": "its Ceph cluster (name or id)"}
    )


class CephPoolUpdateSchema(VocabularyUpdateSchema):
    name = name_field()
    ceph_cluster = NameOrId(allow_none=True, metadata={"description": "name or id; null unlinks"})


def create_pool(session: Session, principal: Principal, data: dict[str, Any]) -> CephPool:
    pool = CephPool()
    update_pool(session, principal, pool, data)
    session.add(pool)
    return pool


def update_pool(
    session: Session, principal: Principal, pool: CephPool, data: dict[str, Any]
) -> None:
    crud.default_update(session, principal, pool, ceph_service.take_cluster(session, pool, data))


def vocabulary(
    path: str,
    model: type,
    title: str,
    read_roles: frozenset[str],
    schema: type[Schema] = VocabularySchema,
    update_schema: type[Schema] = VocabularyUpdateSchema,
    create: crud.CreateHook | None = None,
    update: crud.UpdateHook | None = None,
) -> crud.Resource:
    return crud.register(
        blp,
        crud.Resource(
            path=path,
            model=model,
            title=title,
            schema=schema,
            create_schema=schema,
            update_schema=update_schema,
            filters={"name": Filter(string(128), model.name)},  # type: ignore[attr-defined]
            read_roles=read_roles,
            create=create,
            update=update,
        ),
    )


NODE_STATES = vocabulary("node-states", NodeState, "node state", READERS)
VIRT_METHODS = vocabulary("virt-methods", VirtMethod, "virt method", EVERYONE)
VM_STATES = vocabulary("vm-states", VmState, "VM state", EVERYONE)
STORAGE_TYPES = vocabulary("storage-types", StorageType, "storage type", EVERYONE)
CACHE_OPTIONS = vocabulary("cache-options", CacheOption, "cache option", EVERYONE)
CEPH_POOLS = vocabulary(
    "ceph-pools", CephPool, "Ceph pool", EVERYONE, CephPoolSchema, CephPoolUpdateSchema,
    create_pool, update_pool,
)  # fmt: skip
