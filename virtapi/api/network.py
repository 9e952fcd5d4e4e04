"""Interfaces, VLANs, IPv4/IPv6 networks and addresses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import netaddr
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from ..auth import CUSTOMERS_AND_OPERATORS, EVERYONE, Principal
from ..config import current_settings
from ..models import Node, Vlan, Vm, VmInterface, vlan_member
from ..models.network import ADDRESS_MODELS, NETWORK_MODELS
from ..services import value_fields
from ..services.caller import operators_only
from ..services.errors import InvalidInput
from ..services.network import interfaces, ipam, networks, vlans
from . import crud, reads
from .fields import (
    IPAddress,
    MACAddress,
    Network,
    int32,
    name_field,
    ref_id,
    string,
    vni_field,
    with_rule,
)
from .filters import Filter

blp = Blueprint(
    "network", __name__, url_prefix="/api/v1", description="Interfaces, VLANs, networks, addresses"
)

MAX_LIST = 1024


def _ids(**kwargs: Any) -> fields.List:
    return fields.List(ref_id(), validate=validate.Length(max=MAX_LIST), **kwargs)


# --- interfaces ---------------------------------------------------------------------------------


# Rules of addresses that depend on stored data, stated for the OpenAPI document.
INSIDE_PREFIX = "a gateway must lie inside the network's prefix"
INSIDE_NETWORK = "an address must lie inside its network and be free"


def address_list(version: int) -> fields.Pluck:
    """An interface's addresses of one IP version, as a list of address strings."""
    ref = Schema.from_dict(
        {"address": IPAddress(version, required=True)}, name=f"Ipv{version}AddressRefSchema"
    )
    return fields.Pluck(ref, "address", many=True, required=True)


_PURPOSE = (
    "node interfaces only: management, storage, backup or underlay; its addresses come from "
    "networks of the same purpose"
)
_NETWORK_PURPOSE = (
    "management, storage, backup or underlay: a node network, whose addresses go to node "
    "interfaces of that purpose only; null: a VM network"
)


class VlanRefSchema(Schema):
    id = fields.Integer(required=True)
    vni = fields.Integer(required=True)
    name = fields.String(required=True)


class InterfaceSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "<vm_id>-<id> or the NIC name"})
    bridge = fields.String(required=True, allow_none=True)
    mac = MACAddress(required=True)
    vm_id = fields.Integer(required=True, allow_none=True)
    node_id = fields.Integer(required=True, allow_none=True)
    purpose = value_fields.purpose(required=True, allow_none=True)
    vlans = fields.List(fields.Nested(VlanRefSchema), required=True)
    ipv4_addresses = address_list(4)
    ipv6_addresses = address_list(6)


def address_refs(schema: type[Schema], name: str, version: int) -> reads.Many:
    """The read source of an ``address_list`` field of ``schema``: one statement per page."""
    model = ADDRESS_MODELS[version]
    ref = schema._declared_fields[name].nested  # type: ignore[attr-defined]
    shape = reads.Shape(ref, model, {})  # address: the same-name column
    # Both families of an interface in one statement.
    return reads.Many(
        shape, model.vm_interface_id, (model.address,), pluck="address", together="addresses"
    )


VLAN_REF_SHAPE = reads.Shape(
    VlanRefSchema,
    Vlan,
    {},  # id, vni, name: the same-name columns
    joins=((vlan_member, vlan_member.c.vlan_id == Vlan.id),),
)
# The models' own rules for the derived names, called on the row.
IFACE_NAME = reads.Derived(VmInterface.name.fget)  # type: ignore[attr-defined]
IFACE_BRIDGE = reads.Derived(VmInterface.bridge.fget)  # type: ignore[attr-defined]
INTERFACE_SHAPE = reads.Shape(
    InterfaceSchema,
    VmInterface,
    {
        "name": IFACE_NAME,
        "bridge": IFACE_BRIDGE,
        "mac": reads.stored(VmInterface.mac),
        "vlans": reads.Many(VLAN_REF_SHAPE, vlan_member.c.vm_interface_id, (Vlan.vni,)),
        "ipv4_addresses": address_refs(InterfaceSchema, "ipv4_addresses", 4),
        "ipv6_addresses": address_refs(InterfaceSchema, "ipv6_addresses", 6),
    },
    hidden={"node_ifname": VmInterface.node_ifname},
)


# Cross-field rules of interfaces, stated for the OpenAPI document.
ONE_OWNER = "exactly one of vm_id and node_id"
NODE_IFNAME_ONLY = "node_ifname only for a node's interface (a VM interface's name is derived)"


class InterfaceCreateSchema(Schema):
    vm_id = with_rule(ref_id(metadata={"description": ONE_OWNER}), ONE_OWNER)
    node_id = with_rule(ref_id(metadata={"description": "operators only"}), ONE_OWNER)
    node_ifname = with_rule(
        string(15, metadata={"description": "NIC name on a node (eno1)"}), NODE_IFNAME_ONLY
    )
    purpose = value_fields.purpose(allow_none=True, metadata={"description": _PURPOSE})
    mac = MACAddress(metadata={"description": "operators only; generated if omitted"})
    vlans = _ids(metadata={"description": "VLAN ids this interface is a member of"})


class InterfaceUpdateSchema(Schema):
    mac = MACAddress(metadata={"description": "operators only"})
    node_ifname = with_rule(string(15), NODE_IFNAME_ONLY)
    purpose = value_fields.purpose(allow_none=True, metadata={"description": _PURPOSE})
    vlans = _ids()


def _vlans(
    session: Session, principal: Principal, ids: list[int], attached: Sequence[Vlan] = ()
) -> list[Vlan]:
    """The VLANs named by ``ids`` as the caller may name them (404 otherwise).

    VLANs already ``attached`` to the interface stay nameable: a customer writing back its
    interface unchanged keeps the shared VLAN an operator attached, though it can neither
    see that VLAN nor attach it anew. Leaving it out detaches it, like any other.
    """
    kept = {vlan.id: vlan for vlan in attached}
    return [kept.get(i) or crud.load_ref(session, principal, Vlan, i, "vlans") for i in ids]


def create_interface(session: Session, principal: Principal, data: dict[str, Any]) -> VmInterface:
    if ("vm_id" in data) == ("node_id" in data):
        raise InvalidInput(
            "give exactly one of vm_id and node_id", errors={"vm_id": ["or node_id, not both"]}
        )
    values = dict(data)
    if "vm_id" in values:
        owner = crud.load_ref(session, principal, Vm, values.pop("vm_id"), "vm_id")
    else:
        operators_only(principal, ["node_id"], "node NICs")
        owner = crud.load_ref(session, principal, Node, values.pop("node_id"), "node_id")
    values["vlans"] = _vlans(session, principal, values.get("vlans", []))
    return interfaces.create_interface(session, principal, owner, values)


def update_interface(
    session: Session, principal: Principal, iface: VmInterface, data: dict[str, Any]
) -> None:
    values = dict(data)
    if "vlans" in values:
        values["vlans"] = _vlans(session, principal, values["vlans"], iface.vlans)
    interfaces.update_interface(session, principal, iface, values)


def _iface_scope(customer_id: int) -> Any:
    return VmInterface.vm.has(Vm.customer_id == customer_id)


INTERFACE_OPTIONS = (
    selectinload(VmInterface.vlans),
    selectinload(VmInterface.ipv4_addresses),
    selectinload(VmInterface.ipv6_addresses),
)


def _mac_filter() -> Filter:
    return Filter(MACAddress(), VmInterface.mac)


INTERFACES = crud.register(
    blp,
    crud.Resource(
        path="vm-interfaces",
        model=VmInterface,
        title="interface",
        schema=InterfaceSchema,
        create_schema=InterfaceCreateSchema,
        update_schema=InterfaceUpdateSchema,
        filters={
            "mac": _mac_filter(),
            "vm_id": Filter(ref_id(), VmInterface.vm_id),
            "node_id": Filter(ref_id(), VmInterface.node_id),
            "vlan_id": Filter(ref_id(), lambda v: VmInterface.vlans.any(Vlan.id == v)),
            "vni": Filter(int32(1), lambda v: VmInterface.vlans.any(Vlan.vni == v)),
            "purpose": Filter(value_fields.purpose(), VmInterface.purpose),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=_iface_scope,
        options=INTERFACE_OPTIONS,
        shape=INTERFACE_SHAPE,
        create=create_interface,
        update=update_interface,
        delete=lambda session, principal, iface: interfaces.delete_interface(session, iface),
        description=(
            "NICs of VMs (name <vm_id>-<id>, bridge br-<vm_id>-<id>) and of nodes. "
            "MACs are generated unless an operator gives one (any spelling). A node's NIC has "
            "a purpose (management, storage, backup, underlay) and takes addresses of networks "
            "of that purpose only. Filters: mac, vm_id, node_id, vlan_id, vni, purpose."
        ),
    ),
)


# --- VLANs --------------------------------------------------------------------------------------


class VlanMemberSchema(Schema):
    id = fields.Integer(required=True)


class VlanSchema(Schema):
    id = fields.Integer(required=True)
    vni = fields.Integer(required=True)
    name = fields.String(required=True)
    customer_id = fields.Integer(required=True, allow_none=True)
    description = fields.String(required=True)
    members = fields.Pluck(
        VlanMemberSchema,
        "id",
        many=True,
        attribute="interfaces",
        required=True,
        metadata={"description": "ids of member interfaces"},
    )


class VlanCreateSchema(Schema):
    vni = vni_field(metadata={"description": "operators only; allocated if omitted"})
    name = name_field(required=True)
    customer_id = ref_id(allow_none=True, metadata={"description": "null: operator network"})
    description = string(None, load_default="")
    members = _ids(load_default=list, metadata={"description": "member interface ids"})


class VlanUpdateSchema(Schema):
    vni = vni_field(metadata={"description": "operators only"})
    name = name_field()
    customer_id = ref_id(allow_none=True, metadata={"description": "operators only"})
    description = string(None)
    members = _ids(metadata={"description": "member interface ids (replaces the list)"})


def _members(session: Session, principal: Principal, ids: list[int]) -> list[VmInterface]:
    return [crud.load_ref(session, principal, VmInterface, i, "members") for i in ids]


def create_vlan(session: Session, principal: Principal, data: dict[str, Any]) -> Vlan:
    values = dict(data)
    values["members"] = _members(session, principal, values.get("members", []))
    vni_range = current_settings().vni_range
    return vlans.create_vlan(session, principal, values, vni_range)  # type: ignore[arg-type]


def update_vlan(session: Session, principal: Principal, vlan: Vlan, data: dict[str, Any]) -> None:
    values = dict(data)
    if "members" in values:
        values["members"] = _members(session, principal, values["members"])
    vlans.update_vlan(session, principal, vlan, values)


VLANS = crud.register(
    blp,
    crud.Resource(
        path="vlans",
        model=Vlan,
        title="VLAN",
        schema=VlanSchema,
        create_schema=VlanCreateSchema,
        update_schema=VlanUpdateSchema,
        filters={
            "vni": Filter(int32(1), Vlan.vni),
            "name": Filter(string(64), Vlan.name),
            "customer_id": Filter(ref_id(), Vlan.customer_id),
            "member": Filter(ref_id(), lambda v: Vlan.interfaces.any(VmInterface.id == v)),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=lambda c: Vlan.customer_id == c,
        options=(selectinload(Vlan.interfaces),),
        create=create_vlan,
        update=update_vlan,
        description=(
            "VXLAN-backed networks; the VNI is the tag. Customers see and manage their own. "
            "Filters: vni, name, customer_id, member (interface id)."
        ),
    ),
)


# --- networks -----------------------------------------------------------------------------------


def _network_schemas(version: int) -> tuple[type[Schema], type[Schema], type[Schema]]:
    out = Schema.from_dict(
        {
            "id": fields.Integer(required=True),
            "prefix": fields.String(required=True, attribute="cidr"),
            "network": IPAddress(version, required=True),
            "prefixlen": fields.Integer(required=True),
            "last_address": IPAddress(version, required=True),
            "gateway": IPAddress(version, required=True, allow_none=True),
            "vlan_id": fields.Integer(required=True, allow_none=True),
            "description": fields.String(required=True),
            "purpose": value_fields.purpose(required=True, allow_none=True),
        },
        name=f"Ipv{version}NetworkSchema",
    )
    create = Schema.from_dict(
        {
            "prefix": Network(version, required=True),
            "gateway": with_rule(
                IPAddress(version, allow_none=True, load_default=None), INSIDE_PREFIX
            ),
            "vlan_id": ref_id(allow_none=True, load_default=None),
            "description": string(None, load_default=""),
            "purpose": value_fields.purpose(
                allow_none=True, load_default=None, metadata={"description": _NETWORK_PURPOSE}
            ),
        },
        name=f"Ipv{version}NetworkCreateSchema",
    )
    update = Schema.from_dict(
        {
            "gateway": with_rule(IPAddress(version, allow_none=True), INSIDE_PREFIX),
            "vlan_id": ref_id(allow_none=True),
            "description": string(None),
            "purpose": value_fields.purpose(
                allow_none=True, metadata={"description": _NETWORK_PURPOSE}
            ),
        },
        name=f"Ipv{version}NetworkUpdateSchema",
    )
    return out, create, update


def _vlan_ref(session: Session, principal: Principal, values: dict[str, Any]) -> None:
    if values.get("vlan_id") is not None:
        values["vlan"] = crud.load_ref(session, principal, Vlan, values.pop("vlan_id"), "vlan_id")


def _create_network(session: Session, principal: Principal, data: dict[str, Any]) -> Any:
    values = dict(data)
    prefix = values.pop("prefix")
    _vlan_ref(session, principal, values)
    vlan = values.pop("vlan", None)
    values["vlan_id"] = vlan.id if vlan is not None else None
    return networks.create_network(session, prefix.version, prefix, **values)


def _update_network(session: Session, principal: Principal, net: Any, data: dict[str, Any]) -> None:
    values = dict(data)
    _vlan_ref(session, principal, values)
    networks.update_network(session, net, values)


def _contains(model: Any) -> Any:
    return lambda a: (model.network <= a) & (model.last_address >= a)


def _prefix(model: Any) -> Any:
    return lambda n: (model.network == n.network) & (model.prefixlen == n.prefixlen)


NETWORKS = {}
for _version, _model in NETWORK_MODELS.items():
    _out, _create, _update = _network_schemas(_version)
    NETWORKS[_version] = crud.register(
        blp,
        crud.Resource(
            path=f"ipv{_version}-networks",
            model=_model,
            title=f"IPv{_version} network",
            schema=_out,
            create_schema=_create,
            update_schema=_update,
            filters={
                "prefix": Filter(Network(_version), _prefix(_model)),
                "contains": Filter(IPAddress(_version), _contains(_model)),
                "vlan_id": Filter(ref_id(), _model.vlan_id),
                "purpose": Filter(value_fields.purpose(), _model.purpose),
            },
            create=_create_network,
            update=_update_network,
            description=(
                "Give the prefix in CIDR notation; host bits must be zero and networks of one "
                "version may not overlap. A purpose makes it a node network (management, "
                "storage, backup, underlay). Filters: prefix, contains (an address), vlan_id, "
                "purpose."
            ),
        ),
    )


# --- addresses ----------------------------------------------------------------------------------


def _address_schemas(version: int) -> tuple[type[Schema], type[Schema], type[Schema]]:
    out = Schema.from_dict(
        {
            "id": fields.Integer(required=True),
            "address": IPAddress(version, required=True),
            "network_id": fields.Integer(required=True),
            "prefix": fields.String(required=True, attribute="network.cidr"),
            "vm_interface_id": fields.Integer(
                required=True, allow_none=True, metadata={"description": "null: free"}
            ),
            "vm_id": fields.Function(
                lambda a: a.interface.vm_id if a.interface else None,
                required=True,
                allow_none=True,
                metadata={"type": "integer"},
            ),
        },
        name=f"Ipv{version}AddressSchema",
    )
    create = Schema.from_dict(
        {
            "address": with_rule(
                IPAddress(
                    version,
                    metadata={
                        "description": "omitted: the next free address of network_id is "
                        "allocated to vm_interface_id (never network, broadcast or gateway)"
                    },
                ),
                INSIDE_NETWORK,
            ),
            "network_id": ref_id(metadata={"description": "found from the address if omitted"}),
            "vm_interface_id": ref_id(allow_none=True, load_default=None),
        },
        name=f"Ipv{version}AddressCreateSchema",
    )
    update = Schema.from_dict(
        {"vm_interface_id": ref_id(allow_none=True, metadata={"description": "null frees it"})},
        name=f"Ipv{version}AddressUpdateSchema",
    )
    return out, create, update


def _address_shape(schema: type[Schema], version: int) -> reads.Shape:
    model, network = ADDRESS_MODELS[version], aliased(NETWORK_MODELS[version])
    iface = aliased(VmInterface)
    cidr = NETWORK_MODELS[version].cidr.fget  # type: ignore[attr-defined]
    return reads.Shape(
        schema,
        model,
        {
            "prefix": reads.Derived(cidr),
            "vm_id": iface.vm_id,
        },
        joins=(
            (network, network.id == model.network_id),
            (iface, iface.id == model.vm_interface_id),
        ),
        hidden={"network": network.network, "prefixlen": network.prefixlen},
    )


def _address_hooks(network_model: Any) -> tuple[crud.CreateHook, crud.UpdateHook]:
    def create(session: Session, principal: Principal, data: dict[str, Any]) -> Any:
        operators_only(principal, ["address"], "addresses by hand")
        values = dict(data)
        if "address" not in values and (
            "network_id" not in values or values.get("vm_interface_id") is None
        ):
            raise InvalidInput(
                "give an address, or network_id and vm_interface_id to allocate the next free one",
                errors={"address": ["required unless allocating"]},
            )
        if "network_id" in values:
            network = crud.load_ref(
                session, principal, network_model, values.pop("network_id"), "network_id"
            )
            if "address" in values:
                networks.check_in_network(values["address"], network)
        else:
            network = networks.containing_network(session, values["address"])
        iface_id = values.pop("vm_interface_id")
        if iface_id is not None:
            # Assigned addresses go through IPAM: inside, not reserved, free, under a lock.
            iface = crud.load_ref(session, principal, VmInterface, iface_id, "vm_interface_id")
            return ipam.allocate(session, network, iface, values.get("address"))
        return ipam.add_address(session, network, values["address"])

    def update(session: Session, principal: Principal, row: Any, data: dict[str, Any]) -> None:
        operators_only(principal, list(data) or ["vm_interface_id"], "addresses by hand")
        if "vm_interface_id" in data:
            iface_id = data["vm_interface_id"]
            if iface_id is None:
                ipam.release(session, row)
            else:
                iface = crud.load_ref(session, principal, VmInterface, iface_id, "vm_interface_id")
                ipam.reassign(session, row, iface)

    return create, update


def _address_scope(model: Any) -> crud.CustomerScope:
    return lambda c: model.interface.has(VmInterface.vm.has(Vm.customer_id == c))


def _in_network(model: Any) -> Any:
    def condition(net: netaddr.IPNetwork) -> Any:
        last = netaddr.IPAddress(net.last, net.version)
        return (model.address >= net.network) & (model.address <= last)

    return condition


def _delete_address(session: Session, principal: Principal, row: Any) -> None:
    operators_only(principal, ["address"], "addresses by hand")
    session.delete(row)


ADDRESSES = {}
for _version, _model in ADDRESS_MODELS.items():
    _out, _create, _update = _address_schemas(_version)
    _c, _u = _address_hooks(NETWORK_MODELS[_version])
    ADDRESSES[_version] = crud.register(
        blp,
        crud.Resource(
            path=f"ipv{_version}-addresses",
            model=_model,
            title=f"IPv{_version} address",
            schema=_out,
            create_schema=_create,
            update_schema=_update,
            filters={
                "address": Filter(IPAddress(_version), _model.address),
                "network_id": Filter(ref_id(), _model.network_id),
                "network": Filter(Network(_version), _in_network(_model)),
                "vm_interface_id": Filter(ref_id(), _model.vm_interface_id),
                "vm_id": Filter(
                    ref_id(), lambda v, m=_model: m.interface.has(VmInterface.vm_id == v)
                ),
                "free": Filter(
                    fields.Boolean(),
                    lambda v, m=_model: (
                        m.vm_interface_id.is_(None) if v else m.vm_interface_id.is_not(None)
                    ),
                ),
            },
            read_roles=EVERYONE,
            write_roles=CUSTOMERS_AND_OPERATORS,
            customer_scope=_address_scope(_model),
            options=(joinedload(_model.network), joinedload(_model.interface)),
            shape=_address_shape(_out, _version),
            create=_c,
            update=_u,
            delete=_delete_address,
            description=(
                "Addresses of a network, assigned to an interface or free. Any spelling is "
                "accepted, the compressed form returned. Customers read the addresses of their "
                "VMs but cannot assign them. Filters: address, network_id, network (CIDR), "
                "vm_interface_id, vm_id, free."
            ),
        ),
    )
