"""Routed IPv6 /64s per VM interface, out of operators' prefix pools (issue 17)."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from ..auth import CUSTOMERS_AND_OPERATORS, EVERYONE, Principal
from ..models import Ipv6PrefixPool, Ipv6RoutedPrefix, Vm, VmInterface
from ..services.network import prefixes
from . import crud
from .fields import Network, ref_id, string
from .filters import Filter

blp = Blueprint(
    "prefixes", __name__, url_prefix="/api/v1", description="Routed IPv6 /64s per VM interface"
)


class PoolSchema(Schema):
    id = fields.Integer(required=True)
    prefix = fields.String(required=True, attribute="cidr")
    description = fields.String(required=True)


class PoolCreateSchema(Schema):
    prefix = Network(6, required=True, metadata={"example": "2001:db8:f00::/48"})
    description = string(None, load_default="")


class PoolUpdateSchema(Schema):
    description = string(None)


POOLS = crud.register(
    blp,
    crud.Resource(
        path="ipv6-prefix-pools",
        model=Ipv6PrefixPool,
        title="IPv6 prefix pool",
        schema=PoolSchema,
        create_schema=PoolCreateSchema,
        update_schema=PoolUpdateSchema,
        create=lambda session, principal, data: prefixes.create_pool(
            session, data["prefix"], data["description"]
        ),
        description=(
            "Larger IPv6 prefixes (/64 or shorter) from which VM interfaces get routed /64s. "
            "A pool never overlaps an IPv6 network or another pool; one in use cannot be deleted."
        ),
    ),
)


class RoutedPrefixSchema(Schema):
    id = fields.Integer(required=True)
    prefix = fields.String(required=True, attribute="cidr")
    pool_id = fields.Integer(required=True)
    vm_interface_id = fields.Integer(required=True)
    bridge = fields.String(required=True, attribute="interface.bridge")


class RoutedPrefixCreateSchema(Schema):
    vm_interface_id = ref_id(required=True)
    pool_id = ref_id(metadata={"description": "default: the first pool"})


def _create(session: Session, principal: Principal, data: dict[str, Any]) -> Ipv6RoutedPrefix:
    iface = crud.load_ref(
        session, principal, VmInterface, data["vm_interface_id"], "vm_interface_id"
    )
    pool = None
    if "pool_id" in data:
        pool = crud.load_ref(session, principal, Ipv6PrefixPool, data["pool_id"], "pool_id")
    return prefixes.allocate_prefix(session, iface, pool)


ROUTED = crud.register(
    blp,
    crud.Resource(
        path="ipv6-routed-prefixes",
        model=Ipv6RoutedPrefix,
        title="routed IPv6 prefix",
        schema=RoutedPrefixSchema,
        create_schema=RoutedPrefixCreateSchema,
        filters={
            "vm_interface_id": Filter(ref_id(), Ipv6RoutedPrefix.vm_interface_id),
            "pool_id": Filter(ref_id(), Ipv6RoutedPrefix.pool_id),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=lambda c: Ipv6RoutedPrefix.interface.has(
            VmInterface.vm.has(Vm.customer_id == c)
        ),
        create=_create,
        delete=lambda session, principal, row: prefixes.release_prefix(session, row),
        description=(
            "A /64 routed to one VM interface (at most one each), chosen automatically as the "
            "lowest free /64 of the pool; the hypervisor routes it to the interface's bridge. "
            "Released when deleted or when the interface goes. Customers manage their own."
        ),
    ),
)
