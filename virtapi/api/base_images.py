"""Golden images: operator-defined bases that disks are copy-on-write clones of (issue 17)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..auth import EVERYONE
from ..models import BaseImage, StorageType
from ..services import base_images as service
from . import crud
from .fields import NameOrId, name_field, size_field, string
from .filters import Filter

blp = Blueprint("base_images", __name__, url_prefix="/api/v1", description="Golden images")


class BaseImageSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    storage_type = fields.String(required=True, attribute="storage_type.name")
    method = fields.Function(
        lambda i: service.METHODS.get(i.storage_type.name),
        required=True,
        metadata={
            "type": "string",
            "description": "rbd-clone, qcow2-backing-file, lvm-thin-snapshot",
        },
    )
    ceph_pool = fields.Function(
        lambda i: i.ceph_pool.name if i.ceph_pool else None,
        required=True,
        allow_none=True,
        metadata={"type": "string"},
    )
    size = fields.Integer(required=True, metadata={"description": "bytes"})
    source_url = fields.String(required=True)
    description = fields.String(required=True)


class BaseImageCreateSchema(Schema):
    name = name_field(required=True)
    storage_type = NameOrId(required=True, metadata={"description": "ceph, qcow2 or lvm"})
    ceph_pool = NameOrId(metadata={"description": "required for ceph"})
    size = size_field(required=True)
    source_url = string(2048, load_default="")
    description = string(None, load_default="")


class BaseImageUpdateSchema(Schema):
    source_url = string(2048)
    description = string(None)


BASE_IMAGES = crud.register(
    blp,
    crud.Resource(
        path="base-images",
        model=BaseImage,
        title="base image",
        schema=BaseImageSchema,
        create_schema=BaseImageCreateSchema,
        update_schema=BaseImageUpdateSchema,
        filters={
            "name": Filter(string(64), BaseImage.name),
            "storage_type": Filter(
                string(32), lambda v: BaseImage.storage_type.has(StorageType.name == v)
            ),
        },
        read_roles=EVERYONE,
        create=lambda session, principal, data: service.create_base_image(session, data),
        delete=lambda session, principal, image: service.delete_base_image(session, image),
        description=(
            "Golden images per storage type (ceph: RBD protected snapshot; qcow2: backing file; "
            "lvm: thin LV). Create a disk with base_image to get a copy-on-write clone; many "
            "disks share one base. A base in use cannot be deleted (409 naming the disks)."
        ),
    ),
)
