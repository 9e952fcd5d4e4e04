"""Physical nodes and their roles: hypervisors (virt nodes), Ceph OSDs and monitors."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import or_
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from ..auth import Principal
from ..config import current_settings
from ..models import (
    CephClient,
    CephCluster,
    CephMonNode,
    CephOsdNode,
    Node,
    NodeMethod,
    NodeState,
    VirtMethod,
    VirtNode,
    VmInterface,
)
from ..services import ceph as ceph_service
from ..services import nodes as node_service
from ..services import value_fields
from ..services.lifecycle import is_stale
from ..services.vocabulary import resolve
from . import crud, reads
from .fields import (
    MACAddress,
    NameOrId,
    hostname_field,
    int32,
    int64,
    name_field,
    ref_id,
    string,
    updating,
)
from .filters import Filter
from .network import IFACE_NAME, address_list, address_refs

blp = Blueprint("nodes", __name__, url_prefix="/api/v1", description="Nodes and their roles")

ROLES = ("hypervisor", "ceph_osd", "ceph_mon")


class NodeInterfaceSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    purpose = value_fields.purpose(required=True, allow_none=True)
    mac = MACAddress(required=True)
    ipv4_addresses = address_list(4)
    ipv6_addresses = address_list(6)


def _name_of(attribute: str, description: str) -> fields.Function:
    return fields.Function(
        lambda obj: getattr(getattr(obj, attribute), "name", None),
        required=True,
        allow_none=True,
        metadata={"type": "string", "description": description},
    )


def _ceph_choice(description: str) -> NameOrId:
    return NameOrId(allow_none=True, metadata={"description": description})


class NodeSchema(Schema):
    id = fields.Integer(required=True)
    fqdn = fields.String(required=True)
    location = fields.String(required=True)
    area = fields.String(required=True, allow_none=True)
    state = fields.String(required=True, attribute="state.name")
    reported_state = fields.Function(
        lambda n: n.reported_state.name if n.reported_state else None,
        required=True,
        allow_none=True,
        metadata={"type": "string"},
    )
    puppet_environment = fields.String(required=True, allow_none=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True)
    interfaces = fields.List(fields.Nested(NodeInterfaceSchema), required=True)
    last_seen_at = fields.DateTime(required=True, allow_none=True)
    stale = fields.Function(
        lambda n: is_stale(n, current_settings().node_stale_seconds),
        required=True,
        metadata={
            "type": "boolean",
            "description": "no heartbeat (POST /nodes/<fqdn>/report) for NODE_STALE_SECONDS",
        },
    )
    facts = fields.Dict(required=True, allow_none=True, metadata={"description": "last reported"})
    ceph_cluster = _name_of("ceph_cluster", "the Ceph cluster this node's ceph.conf names")
    ceph_client = _name_of("ceph_client", "its cephx user (null: the cluster's default)")
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


def _node_shape() -> reads.Shape:
    # Aliases: the filters' subqueries (state, role) must not correlate to the shape's joins.
    state, reported = aliased(NodeState), aliased(NodeState)
    cluster, client = aliased(CephCluster), aliased(CephClient)
    virt, osd, mon = aliased(VirtNode), aliased(CephOsdNode), aliased(CephMonNode)
    interface = reads.Shape(
        NodeInterfaceSchema,
        VmInterface,
        {
            "name": IFACE_NAME,
            "mac": reads.stored(VmInterface.mac),
            "ipv4_addresses": address_refs(NodeInterfaceSchema, "ipv4_addresses", 4),
            "ipv6_addresses": address_refs(NodeInterfaceSchema, "ipv6_addresses", 6),
        },
        hidden={
            "vm_id": VmInterface.vm_id,
            "node_id": VmInterface.node_id,
            "node_ifname": VmInterface.node_ifname,
        },
    )
    declared = NodeSchema._declared_fields
    return reads.Shape(
        NodeSchema,
        Node,
        {
            "state": state.name,
            "reported_state": reported.name,
            "roles": reads.Derived(Node.roles.fget),  # type: ignore[attr-defined]
            "interfaces": reads.Many(interface, VmInterface.node_id, (VmInterface.id,)),
            "stale": reads.Derived(declared["stale"].serialize_func),  # type: ignore[attr-defined]
            "ceph_cluster": cluster.name,
            "ceph_client": client.name,
        },
        joins=(
            (state, state.id == Node.node_state_id),
            (reported, reported.id == Node.reported_state_id),
            (cluster, cluster.id == Node.ceph_cluster_id),
            (client, client.id == Node.ceph_client_id),
            (virt, virt.node_id == Node.id),
            (osd, osd.node_id == Node.id),
            (mon, mon.node_id == Node.id),
        ),
        # Node.roles asks whether each role row exists.
        hidden={"virt_node": virt.id, "ceph_osd_node": osd.id, "ceph_mon_node": mon.id},
    )


NODE_SHAPE = _node_shape()


class NodeCreateSchema(Schema):
    fqdn = hostname_field(required=True)
    location = string(255, load_default="")
    area = name_field(allow_none=True, load_default=None)
    state = NameOrId(load_default="running", metadata={"description": "node state name or id"})
    puppet_environment = name_field(allow_none=True, load_default=None)
    ceph_cluster = _ceph_choice("Ceph cluster by name or id (a monitor defaults to its own)")
    ceph_client = _ceph_choice("client by id, or by name in ceph_cluster (default: its default)")


_CEPH_CHOICES = ("ceph_cluster", "ceph_client")


def _node_values(session: Session, data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    if "state" in values:
        values["state"] = resolve(session, NodeState, values["state"], "state")
    return values


def _choose_ceph(session: Session, node: Node, data: dict[str, Any]) -> None:
    given = [k for k in _CEPH_CHOICES if k in data]
    if given:
        ceph_service.choose(session, node, data.get("ceph_cluster"), data.get("ceph_client"), given)


def create_node(session: Session, principal: Principal, data: dict[str, Any]) -> Node:
    values = {k: v for k, v in data.items() if k not in _CEPH_CHOICES}
    node = Node(**_node_values(session, values))
    session.add(node)
    _choose_ceph(session, node, data)
    return node


def update_node(session: Session, principal: Principal, node: Node, data: dict[str, Any]) -> None:
    values = {k: v for k, v in data.items() if k not in _CEPH_CHOICES}
    for key, value in _node_values(session, values).items():
        setattr(node, key, value)
    _choose_ceph(session, node, data)


def _role(value: str) -> Any:
    column = {
        "hypervisor": Node.virt_node,
        "ceph_osd": Node.ceph_osd_node,
        "ceph_mon": Node.ceph_mon_node,
    }[value]
    return column.has()


_node_iface = selectinload(Node.interfaces)
NODES = crud.register(
    blp,
    crud.Resource(
        path="nodes",
        model=Node,
        title="node",
        schema=NodeSchema,
        create_schema=NodeCreateSchema,
        update_schema=updating(NodeCreateSchema),
        filters={
            "fqdn": Filter(string(253), Node.fqdn),
            "state": Filter(string(32), lambda v: Node.state.has(NodeState.name == v)),
            "area": Filter(string(64), Node.area),
            "location": Filter(string(255), Node.location),
            "role": Filter(fields.String(validate=validate.OneOf(ROLES)), _role),
        },
        options=(
            joinedload(Node.reported_state),
            joinedload(Node.ceph_cluster),
            joinedload(Node.ceph_client),
            selectinload(Node.virt_node),
            selectinload(Node.ceph_osd_node),
            selectinload(Node.ceph_mon_node),
            _node_iface.selectinload(VmInterface.ipv4_addresses),
            _node_iface.selectinload(VmInterface.ipv6_addresses),
        ),
        shape=NODE_SHAPE,
        create=create_node,
        update=update_node,
        delete=lambda session, principal, node: node_service.delete_node(session, node),
        description="Filters: fqdn, state, area, location, role (hypervisor, ceph_osd, ceph_mon).",
    ),
)


def _node_filters(model: type) -> dict[str, Filter]:
    return {
        "fqdn": Filter(string(253), lambda v: model.node.has(Node.fqdn == v)),  # type: ignore[attr-defined]
        "node_id": Filter(ref_id(), model.node_id),  # type: ignore[attr-defined]
        "area": Filter(string(64), lambda v: model.node.has(Node.area == v)),  # type: ignore[attr-defined]
    }


# --- hypervisors --------------------------------------------------------------------------------


class NodeMethodSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "placement id (vm.node_method)"})
    name = fields.String(required=True, attribute="virt_method.name")


class VirtNodeSchema(Schema):
    id = fields.Integer(required=True)
    node_id = fields.Integer(required=True)
    fqdn = fields.String(required=True, attribute="node.fqdn")
    cores = fields.Integer(required=True)
    ram = fields.Integer(required=True, metadata={"description": "bytes"})
    local_storage_gb = fields.Integer(required=True)
    vg_name = fields.String(required=True, allow_none=True)
    local_storage_path = fields.String(required=True, allow_none=True)
    methods = fields.List(fields.Nested(NodeMethodSchema), required=True)


class VirtNodeCreateSchema(Schema):
    node_id = ref_id(required=True)
    cores = int32(1, required=True)
    ram = int64(1, required=True, metadata={"description": "bytes"})
    local_storage_gb = int64(0, load_default=0)
    vg_name = name_field(allow_none=True, load_default=None)
    local_storage_path = string(255, allow_none=True, load_default=None)
    methods = fields.List(
        NameOrId(),
        load_default=list,
        validate=validate.Length(max=64),
        metadata={"description": "virt methods this hypervisor runs, by name or id"},
    )


class VirtNodeUpdateSchema(Schema):
    cores = int32(1)
    ram = int64(1)
    local_storage_gb = int64(0)
    vg_name = name_field(allow_none=True)
    local_storage_path = string(255, allow_none=True)
    methods = fields.List(NameOrId(), validate=validate.Length(max=64))


def create_virt_node(session: Session, principal: Principal, data: dict[str, Any]) -> VirtNode:
    values = dict(data)
    methods = values.pop("methods")
    node = crud.load_ref(session, principal, Node, values.pop("node_id"), "node_id")
    node_service.role_node(session, VirtNode, node.id)
    virt_node = VirtNode(node=node, **values)
    session.add(virt_node)
    node_service.set_virt_methods(session, virt_node, methods)
    return virt_node


def update_virt_node(
    session: Session, principal: Principal, virt_node: VirtNode, data: dict[str, Any]
) -> None:
    values = dict(data)
    if "methods" in values:
        node_service.set_virt_methods(session, virt_node, values.pop("methods"))
    for key, value in values.items():
        setattr(virt_node, key, value)


VIRT_NODES = crud.register(
    blp,
    crud.Resource(
        path="virt-nodes",
        model=VirtNode,
        title="virt node",
        schema=VirtNodeSchema,
        create_schema=VirtNodeCreateSchema,
        update_schema=VirtNodeUpdateSchema,
        filters={
            **_node_filters(VirtNode),
            "method": Filter(
                string(32),
                lambda v: VirtNode.methods.any(
                    NodeMethod.virt_method.has(or_(VirtMethod.name == v))
                ),
            ),
        },
        options=(joinedload(VirtNode.node), selectinload(VirtNode.methods)),
        create=create_virt_node,
        update=update_virt_node,
        delete=lambda session, principal, vn: node_service.delete_virt_node(session, vn),
        description="The hypervisor role of a node. Filters: fqdn, node_id, area, method.",
    ),
)


# --- Ceph ---------------------------------------------------------------------------------------


class CephOsdNodeSchema(Schema):
    id = fields.Integer(required=True)
    node_id = fields.Integer(required=True)
    fqdn = fields.String(required=True, attribute="node.fqdn")


class CephOsdNodeCreateSchema(Schema):
    node_id = ref_id(required=True)


class CephMonNodeSchema(CephOsdNodeSchema):
    port = fields.Integer(required=True)
    ceph_cluster_id = fields.Integer(required=True, allow_none=True)


class CephMonNodeCreateSchema(CephOsdNodeCreateSchema):
    port = int32(1, 65535, load_default=6789)
    ceph_cluster = _ceph_choice("the cluster this monitor belongs to (name or id)")


class CephMonNodeUpdateSchema(Schema):
    port = int32(1, 65535)
    ceph_cluster = _ceph_choice("the cluster this monitor belongs to (name or id)")


def _update_monitor(
    session: Session, principal: Principal, mon: CephMonNode, data: dict[str, Any]
) -> None:
    crud.default_update(session, principal, mon, ceph_service.take_cluster(session, mon, data))


def _create_role(model: type) -> crud.CreateHook:
    def create(session: Session, principal: Principal, data: dict[str, Any]) -> Any:
        values = dict(data)
        node = crud.load_ref(session, principal, Node, values.pop("node_id"), "node_id")
        node_service.role_node(session, model, node.id)
        row = model(node=node)
        crud.default_update(
            session, principal, row, ceph_service.take_cluster(session, row, values)
        )
        session.add(row)
        return row

    return create


CEPH_OSD_NODES = crud.register(
    blp,
    crud.Resource(
        path="ceph-osd-nodes",
        model=CephOsdNode,
        title="Ceph OSD node",
        schema=CephOsdNodeSchema,
        create_schema=CephOsdNodeCreateSchema,
        filters=_node_filters(CephOsdNode),
        options=(joinedload(CephOsdNode.node),),
        create=_create_role(CephOsdNode),
        description="The Ceph OSD role of a node. Filters: fqdn, node_id, area.",
    ),
)

CEPH_MON_NODES = crud.register(
    blp,
    crud.Resource(
        path="ceph-mon-nodes",
        model=CephMonNode,
        title="Ceph monitor node",
        schema=CephMonNodeSchema,
        create_schema=CephMonNodeCreateSchema,
        update_schema=CephMonNodeUpdateSchema,
        filters=_node_filters(CephMonNode),
        options=(joinedload(CephMonNode.node),),
        create=_create_role(CephMonNode),
        update=_update_monitor,
        description="The Ceph monitor role of a node, in a Ceph cluster (ceph-clusters). "
        "Filters: fqdn, node_id, area.",
    ),
)
