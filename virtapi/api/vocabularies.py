"""Small name/description tables: node and VM states, virt methods, storage types, cache options,
Ceph pools. Operators maintain them; every role reads those a customer needs."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..auth import EVERYONE, READERS
from ..models import CacheOption, CephPool, NodeState, StorageType, VirtMethod, VmState
from . import crud
from .fields import string
from .filters import Filter

blp = Blueprint(
    "vocabularies", __name__, url_prefix="/api/v1", description="States, methods, types, pools"
)


class VocabularySchema(Schema):
    id = fields.Integer(dump_only=True)
    name = string(32, required=True, non_empty=True)
    description = string(None, load_default="")


class VocabularyUpdateSchema(Schema):
    name = string(32, non_empty=True)
    description = string(None)


class CephPoolSchema(VocabularySchema):
    name = string(128, required=True, non_empty=True)


class CephPoolUpdateSchema(VocabularyUpdateSchema):
    name = string(128, non_empty=True)


def vocabulary(
    path: str,
    model: type,
    title: str,
    read_roles: frozenset[str],
    schema: type[Schema] = VocabularySchema,
    update_schema: type[Schema] = VocabularyUpdateSchema,
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
        ),
    )


NODE_STATES = vocabulary("node-states", NodeState, "node state", READERS)
VIRT_METHODS = vocabulary("virt-methods", VirtMethod, "virt method", EVERYONE)
VM_STATES = vocabulary("vm-states", VmState, "VM state", EVERYONE)
STORAGE_TYPES = vocabulary("storage-types", StorageType, "storage type", EVERYONE)
CACHE_OPTIONS = vocabulary("cache-options", CacheOption, "cache option", EVERYONE)
CEPH_POOLS = vocabulary(
    "ceph-pools", CephPool, "Ceph pool", EVERYONE, CephPoolSchema, CephPoolUpdateSchema
)
