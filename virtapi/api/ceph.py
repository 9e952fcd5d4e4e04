"""Ceph clusters and client users (operators and admins; customers see neither: 404).

A client's key is write-only: the representation says only ``has_key``. Storing a key needs
a token with the secrets scope; reading it happens only through a node document served to
such a token (ENC, Hiera, pillar).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from ..auth import OPERATORS, Principal, require_secrets
from ..config import current_secret_box
from ..models import CephClient, CephCluster
from ..services import ceph as ceph_service
from ..services import value_fields
from . import crud
from .fields import NameOrId, name_field, ref_id, string, updating, with_rule
from .filters import Filter


def _network(description: str) -> Any:
    return value_fields.cidr(None, allow_none=True, load_default=None,
                             metadata={"description": description})  # fmt: skip


blp = Blueprint("ceph", __name__, url_prefix="/api/v1", description="Ceph clusters and clients")


# The pattern states the text form; the AES header inside it only the server can check.
KEY_RULE = "the key must be a cephx AES key exactly as `ceph auth get-key` prints it"


class CephClusterSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    fsid = fields.String(required=True, allow_none=True, metadata={"format": "uuid"})
    public_network = fields.String(required=True, allow_none=True)
    cluster_network = fields.String(required=True, allow_none=True)
    description = fields.String(required=True)


class CephClusterCreateSchema(Schema):
    name = name_field(required=True)
    fsid = value_fields.uuid(
        allow_none=True, load_default=None, metadata={"description": "`ceph fsid`"}
    )
    public_network = _network("the storage network (ceph.conf public_network)")
    cluster_network = _network("the replication network (ceph.conf cluster_network)")
    description = string(None, load_default="")


class CephClientSchema(Schema):
    id = fields.Integer(required=True)
    ceph_cluster_id = fields.Integer(required=True)
    ceph_cluster = fields.String(required=True, attribute="cluster.name")
    name = fields.String(required=True, metadata={"example": "client.libvirt"})
    caps = fields.String(required=True)
    secret_uuid = fields.String(required=True, metadata={"format": "uuid"})
    is_default = fields.Boolean(required=True)
    has_key = fields.Boolean(
        required=True, metadata={"description": "virtapi holds this client's key"}
    )


class CephClientCreateSchema(Schema):
    ceph_cluster = NameOrId(required=True, metadata={"description": "cluster name or id"})
    name = value_fields.ceph_client_name(required=True)
    caps = string(None, load_default="", metadata={"description": "as in `ceph auth get`"})
    secret_uuid = value_fields.uuid(
        metadata={"description": "libvirt secret uuid; generated when omitted"}
    )
    is_default = fields.Boolean(
        load_default=False, metadata={"description": "the client of nodes that name none"}
    )
    key = with_rule(
        value_fields.cephx_key(
            allow_none=True,
            metadata={
                "description": "`ceph auth get-key client.<id>`; needs the secrets scope, "
                "stored encrypted, never returned (null removes it)"
            },
        ),
        KEY_RULE,
    )


class CephClientUpdateSchema(Schema):
    name = value_fields.ceph_client_name()
    caps = string(None)
    is_default = fields.Boolean()
    key = with_rule(value_fields.cephx_key(allow_none=True), KEY_RULE)


def _check_key_scope(principal: Principal, data: dict[str, Any]) -> None:
    if "key" in data:
        require_secrets(principal, "storing a Ceph key")


def create_client(session: Session, principal: Principal, data: dict[str, Any]) -> CephClient:
    _check_key_scope(principal, data)
    values = dict(data)
    cluster = ceph_service.cluster_by_ref(session, values.pop("ceph_cluster"), "ceph_cluster")
    return ceph_service.create_client(session, cluster, values, current_secret_box())


def update_client(
    session: Session, principal: Principal, client: CephClient, data: dict[str, Any]
) -> None:
    _check_key_scope(principal, data)
    ceph_service.update_client(session, client, data, current_secret_box())


CEPH_CLUSTERS = crud.register(
    blp,
    crud.Resource(
        path="ceph-clusters",
        model=CephCluster,
        title="Ceph cluster",
        schema=CephClusterSchema,
        create_schema=CephClusterCreateSchema,
        update_schema=updating(CephClusterCreateSchema),
        filters={"name": Filter(string(64), CephCluster.name)},
        read_roles=OPERATORS,
        write_roles=OPERATORS,
        create=lambda session, principal, data: ceph_service.create_cluster(session, data),
        update=lambda session, principal, obj, data: ceph_service.update_cluster(
            session, obj, data
        ),
        delete=lambda session, principal, obj: ceph_service.delete_cluster(session, obj),
        description=(
            "Ceph clusters: fsid and networks for ceph.conf; monitors (ceph-mon-nodes), pools "
            "and nodes name their cluster. Deleting one deletes its clients, and is refused "
            "while nodes, monitors or pools name it. Filters: name."
        ),
    ),
)

CEPH_CLIENTS = crud.register(
    blp,
    crud.Resource(
        path="ceph-clients",
        model=CephClient,
        title="Ceph client",
        schema=CephClientSchema,
        create_schema=CephClientCreateSchema,
        update_schema=CephClientUpdateSchema,
        filters={
            "ceph_cluster_id": Filter(ref_id(), CephClient.ceph_cluster_id),
            "name": Filter(string(72), CephClient.name),
        },
        read_roles=OPERATORS,
        write_roles=OPERATORS,
        create=create_client,
        update=update_client,
        delete=lambda session, principal, obj: ceph_service.delete_client(session, obj),
        description=(
            "cephx users of a cluster (client.libvirt). The key is write-only and needs a "
            "token with the secrets scope; it is stored encrypted (VIRTAPI_SECRET_KEY_FILE) "
            "and served only in node documents to secrets-scoped tokens. "
            "Filters: ceph_cluster_id, name."
        ),
    ),
)
