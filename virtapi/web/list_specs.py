"""The list pages' columns, sorts and filter controls (``lists.ListSpec`` each).

Where the API has the filter, the control is the API's (``Control.api``): same parsing, same SQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from ..api.changes import CHANGES, OBJECT_TYPES
from ..api.compute import VMS
from ..api.network import NETWORKS, VLANS
from ..api.nodes import NODES, ROLES
from ..models import (
    ApiToken,
    Change,
    Ipv4Address,
    Ipv4Network,
    Node,
    NodeMethod,
    NodeState,
    VirtNode,
    Vlan,
    VmInterface,
    VmState,
)
from ..models import Vm as VmModel
from . import login
from .lists import Column, Control, ListSpec

ROLE_LABELS = {"hypervisor": "hypervisor", "ceph_osd": "Ceph OSD", "ceph_mon": "Ceph mon"}


def names_of(model: Any) -> Any:
    """Choices: every name of a vocabulary table (states), read when the page is drawn."""

    def choices(session: Session) -> list[tuple[str, str]]:
        names = session.scalars(select(model.name).order_by(model.name)).all()
        return [(n, n) for n in names]

    return choices


def _ipv4_networks(session: Session) -> list[tuple[str, str]]:
    rows = session.scalars(select(Ipv4Network).order_by(Ipv4Network.id).limit(500)).all()
    return [(str(n.id), str(n.cidr)) for n in rows]


def _vlans(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(select(Vlan.id, Vlan.vni, Vlan.name).order_by(Vlan.vni).limit(500))
    return [(str(key), f"{vni} {name}") for key, vni, name in rows]


def _on_network(network_id: int) -> ColumnElement[bool]:
    addresses = VmInterface.ipv4_addresses.any(Ipv4Address.network_id == network_id)
    return VmModel.interfaces.any(addresses)


def _name_of(model: Any, key: Any) -> Select:
    """The name of the row ``key`` points at, to sort by names rather than ids."""
    return select(model.name).where(model.id == key).scalar_subquery()


def _host_fqdn() -> Any:
    """The fqdn of the VM's hypervisor, to sort by host name (unplaced VMs: NULL)."""
    return (
        select(Node.fqdn)
        .join(VirtNode, VirtNode.node_id == Node.id)
        .join(NodeMethod, NodeMethod.virt_node_id == VirtNode.id)
        .where(NodeMethod.id == VmModel.node_method_id)
        .scalar_subquery()
    )


def role_choices(_session: Session) -> list[tuple[str, str]]:
    return [(r, ROLE_LABELS[r]) for r in ROLES]


VM_LIST = ListSpec(
    endpoint="web.vms",
    columns=(
        Column("hostname", "VM", VmModel.hostname),
        Column("customer", "Customer", VmModel.customer_id, staff_only=True),
        Column("host", "Host", _host_fqdn()),
        Column("cores", "Cores", VmModel.cores, numeric=True),
        Column("ram", "RAM", VmModel.ram, numeric=True),
        Column("disks", "Disks", numeric=True),
        Column("addresses", "Addresses"),
        Column("state", "State", _name_of(VmState, VmModel.actual_state_id)),
    ),
    default_sort="hostname",
    tiebreak=(VmModel.id,),
    controls=(
        Control.contains("hostname", "Hostname contains", VmModel.hostname, lower=True),
        Control.api("state", "State", VMS.filters["state"], choices=names_of(VmState)),
        Control.api(
            "customer_id",
            "Customer",
            VMS.filters["customer_id"],
            staff_only=True,
            hint="a positive customer id",
            aliases=("customer",),
        ),
        Control.api(
            "hypervisor",
            "Hypervisor",
            VMS.filters["hypervisor"],
            staff_only=True,
            placeholder="fqdn or node id",
        ),
        Control(
            "network",
            "Network",
            _on_network,
            fields.Integer(strict=False, validate=validate.Range(1, 2**63 - 1)),
            choices=_ipv4_networks,
            staff_only=True,
        ),
    ),
    page_size=100,
)

FLEET_LIST = ListSpec(
    endpoint="web.fleet",
    columns=(
        Column("fqdn", "Node", Node.fqdn),
        Column("roles", "Roles"),
        Column("state", "State", _name_of(NodeState, Node.node_state_id)),
        Column("area", "Area", Node.area),
        Column("vms", "VMs", numeric=True),
        Column("cpu", "CPU"),
        Column("ram", "RAM"),
        Column("local", "Local storage"),
        Column("seen", "Last seen", Node.last_seen_at),
    ),
    default_sort="fqdn",
    tiebreak=(Node.id,),
    controls=(
        Control.contains("fqdn", "Name contains", Node.fqdn, lower=True),
        Control.api("state", "State", NODES.filters["state"], choices=names_of(NodeState)),
        Control.api("role", "Role", NODES.filters["role"], choices=role_choices),
        Control.api("area", "Area", NODES.filters["area"]),
    ),
    page_size=100,
)

NETWORK_LIST = ListSpec(
    endpoint="web.networks",
    columns=(
        Column("prefix", "Network", ("network", "prefixlen")),
        Column("purpose", "Purpose", "purpose"),
        Column("gateway", "Gateway", "gateway"),
        Column("vlan", "VLAN", "vlan_id"),
        Column("description", "Description", "description"),
        Column("used", "Addresses in use"),
        Column("registered", "Registered", numeric=True),
    ),
    default_sort="prefix",
    tiebreak=("id",),
    controls=(
        # Which tables to read: the view passes it on, it is no condition.
        Control(
            "version",
            "Version",
            None,
            fields.Integer(strict=False, validate=validate.OneOf((4, 6))),
            choices=lambda _s: [("4", "IPv4"), ("6", "IPv6")],
        ),
        # The API's parsing; the column by name, so that it is IPv4's or IPv6's in each query.
        replace(
            Control.api("vlan_id", "VLAN", NETWORKS[4].filters["vlan_id"], choices=_vlans),
            condition="vlan_id",
        ),
    ),
)


def _actor(kind: str) -> ColumnElement[bool]:
    """Who made a change: for staff by the token's role, for a customer you/operator/system."""
    me = login.principal()
    token = Change.actor_token_id
    if kind == "system":
        return token.is_(None)
    if me.is_customer:
        return (
            token == me.token_id if kind == "you" else token.is_not(None) & (token != me.token_id)
        )
    customers = select(ApiToken.id).where(ApiToken.role == "customer")
    return token.in_(customers) if kind == "customer" else token.not_in(customers)


def _day(value: Any, *, after: bool) -> ColumnElement[bool]:
    start = datetime.combine(value, time(), tzinfo=UTC)
    return Change.at >= start if not after else Change.at < start + timedelta(days=1)


def _made_by(name: str, kinds: list[tuple[str, str]], **audience: bool) -> Control:
    """Who made a change, as a select of ``kinds`` (staff and customers get different ones)."""
    parser = fields.String(validate=validate.OneOf([k for k, _ in kinds]))
    return Control(name, "Made by", _actor, parser, choices=lambda _s: kinds, **audience)


_STAFF_ACTORS = [("staff", "staff"), ("customer", "a customer"), ("system", "system")]
_CUSTOMER_ACTORS = [("you", "you"), ("operator", "operator"), ("system", "system")]

CHANGE_LIST = ListSpec(
    endpoint="web.changes",
    columns=(
        Column("at", "When", Change.id),
        Column("who", "Who", Change.actor, staff_sort=True),
        Column("action", "Action", Change.action),
        Column("object", "Object", (Change.object_type, Change.object_id)),
        Column("fields", "Fields"),
    ),
    default_sort="-at",
    tiebreak=(Change.id.desc(),),
    controls=(
        Control(
            "object_type",
            "Object type",
            CHANGES.filters["object_type"].clause,
            choices=lambda _s: [
                (t, t.replace("_", " ")) for t in sorted(set(OBJECT_TYPES.values()))
            ],
        ),
        Control("object_id", "Object id", Change.object_id),
        Control.api(
            "action",
            "Action",
            CHANGES.filters["action"],
            choices=lambda _s: [(a, a) for a in ("create", "update", "delete")],
        ),  # fmt: skip
        _made_by("actor", _STAFF_ACTORS, staff_only=True),
        _made_by("by", _CUSTOMER_ACTORS, customer_only=True),
        Control("since", "From", lambda v: _day(v, after=False), fields.Date(), kind="date"),
        Control("until", "To", lambda v: _day(v, after=True), fields.Date(), kind="date"),
    ),
)

VLAN_LIST = ListSpec(
    endpoint="web.vlans",
    columns=(
        Column("vni", "VNI", Vlan.vni, numeric=True),
        Column("name", "Name", Vlan.name),
        Column("customer", "Customer", Vlan.customer_id, staff_only=True),
        Column("description", "Description", Vlan.description),
        Column("actions", ""),
    ),
    default_sort="vni",
    tiebreak=(Vlan.id,),
    controls=(
        Control.api("vni", "VNI", VLANS.filters["vni"]),  # the search box jumps here with ?vni=
        Control.contains("name", "Name contains", Vlan.name),
        Control.api(
            "customer_id",
            "Customer",
            VLANS.filters["customer_id"],
            staff_only=True,
            hint="a positive customer id",
        ),
    ),
    page_size=100,
)
