"""The change log, read-only: who changed what, when, with the fields before and after."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..auth import EVERYONE
from ..models import Change
from . import crud
from .fields import ref_id, string
from .filters import Filter

blp = Blueprint("changes", __name__, url_prefix="/api/v1", description="The change log")

# Resource paths a client knows, mapped to the table names the log records.
OBJECT_TYPES = {
    "nodes": "node",
    "node-states": "node_state",
    "virt-methods": "virt_method",
    "virt-nodes": "virt_node",
    "ceph-osd-nodes": "ceph_osd_node",
    "ceph-mon-nodes": "ceph_mon_node",
    "vms": "vm",
    "vm-states": "vm_state",
    "vm-interfaces": "vm_interface",
    "vlans": "vlan",
    "ipv4-networks": "ipv4_network",
    "ipv6-networks": "ipv6_network",
    "ipv4-addresses": "ipv4",
    "ipv6-addresses": "ipv6",
    "storage": "storage",
    "storage-types": "storage_type",
    "cache-options": "cache_option",
    "ceph-pools": "ceph_pool",
    "ceph-clusters": "ceph_cluster",
    "ceph-clients": "ceph_client",
    "customer-quotas": "customer_quota",
    "tokens": "api_token",
}


class ChangeSchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    actor = fields.String(required=True, metadata={"description": "token:<id>:<name>, cli:<user>"})
    actor_token_id = fields.Integer(required=True, allow_none=True)
    action = fields.String(required=True, validate=validate.OneOf(("create", "update", "delete")))
    object_type = fields.String(required=True, metadata={"description": "table name"})
    object_id = fields.String(required=True)
    customer_id = fields.Integer(required=True, allow_none=True)
    before = fields.Dict(required=True, allow_none=True)
    after = fields.Dict(required=True, allow_none=True)
    affected = fields.List(
        fields.String(),
        required=True,
        allow_none=True,
        metadata={"description": "certnames whose node document the change alters"},
    )


def _object_type(value: str):  # type: ignore[no-untyped-def]
    return Change.object_type == OBJECT_TYPES.get(value, value)


CHANGES = crud.register(
    blp,
    crud.Resource(
        path="changes",
        model=Change,
        title="change",
        schema=ChangeSchema,
        deletable=False,
        filters={
            "object_type": Filter(string(64), _object_type),
            "object_id": Filter(string(64), Change.object_id),
            "action": Filter(
                fields.String(validate=validate.OneOf(("create", "update", "delete"))),
                Change.action,
            ),
            "actor": Filter(string(160), Change.actor),
            "actor_token_id": Filter(ref_id(), Change.actor_token_id),
            "customer_id": Filter(ref_id(), Change.customer_id),
            "since": Filter(fields.AwareDateTime(), lambda v: Change.at >= v),
            "until": Filter(fields.AwareDateTime(), lambda v: Change.at < v),
        },
        read_roles=EVERYONE,
        customer_scope=lambda c: Change.customer_id == c,
        description=(
            "Every create, update and delete, written in the same transaction as the change. "
            "Customers see only changes to their own objects. Filters: object_type (table or "
            "resource name, e.g. vm or vms), object_id, action, actor, actor_token_id, "
            "customer_id, since, until (ISO 8601 with time zone; since inclusive, until exclusive)."
        ),
    ),
)
