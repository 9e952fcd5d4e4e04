"""What the CRUD resources cannot express: VM actions, host reports, migration, IPAM look-ahead.

- ``POST /vms/<uuid>/actions`` (and ``/start``, ``/stop``, ``/reboot``, ``/reinstall``,
  ``/delete``): record a requested state, checked against the actual one (409 if impossible).
- ``POST /vms/<uuid>/report``: a host says what a VM is (reader role: the hosts' token).
- ``POST /vms/<uuid>/migrate``: operators place or move a VM, validated like automatic placement.
- ``POST /nodes/<fqdn or id>/report``: a node's heartbeat with its own state and facts.
- ``GET /ipv4-networks/<id>/available`` (and ipv6): usage counts and the next free addresses.
- ``POST /ipv4-networks/<id>/allocate`` (and ipv6): give an interface the next free (or a
  requested) address.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .. import values
from ..auth import CUSTOMERS_AND_OPERATORS, OPERATORS, READERS, current_principal, require
from ..config import current_settings
from ..db import get_session
from ..models import Vm, VmInterface
from ..services import drift, lifecycle, placement
from ..services.errors import NotFound
from ..services.lookups import vm_by_uuid
from ..services.network import ipam, networks
from .drift import current_document
from .fields import IPAddress, NameOrId, query_int, ref_id, string, with_rule
from .network import INSIDE_NETWORK

blp = Blueprint(
    "operations",
    __name__,
    url_prefix="/api/v1",
    description="VM actions and reports, migration, node heartbeats, address allocation",
)


def overcommit() -> placement.Overcommit:
    return placement.Overcommit.of(current_settings())


def _customer() -> int | None:
    p = current_principal()
    return p.customer_id if p.is_customer else None


# --- VM state -----------------------------------------------------------------------------------


class VmStateSchema(Schema):
    uuid = fields.UUID(required=True)
    hostname = fields.String(required=True)
    requested_state = fields.String(required=True)
    actual_state = fields.String(required=True)
    transition_pending = fields.Boolean(
        required=True, metadata={"description": "a request waits for its host to report it"}
    )
    reported_at = fields.DateTime(required=True, allow_none=True)
    deleted = fields.Boolean(
        metadata={"description": "true when the report confirmed a deletion and the VM is gone"}
    )


class ActionSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(list(lifecycle.ACTIONS)),
        metadata={"example": "stop"},
    )


# Drift (issue 12): the X-Virtapi-Document hash of the document the host last applied.
APPLIED_DOCUMENT = string(
    64,
    load_default=None,
    allow_none=True,
    metadata={
        "description": "X-Virtapi-Document of the ENC/Hiera/pillar answer applied",
        "pattern": drift.HASH_PATTERN,
    },
)


class ReportSchema(Schema):
    state = with_rule(
        string(
            32,
            allow_none=True,
            load_default=None,
            metadata={
                "description": "VM state name; may be left out when only applied_document is sent",
                "example": "running",
            },
        ),
        "state must be the name of a VM state (GET /api/v1/vm-states)",
    )
    applied_document = APPLIED_DOCUMENT

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("state") is None and data.get("applied_document") is None:
            raise ValidationError("send state, applied_document or both", "state")


def _applied(certname: str, applied: str | None) -> None:
    if applied is not None:
        drift.check_hash(applied)  # before building anything for a malformed hash
        drift.record_applied(get_session(), certname, applied, current_document(certname))


def _state(vm: Vm) -> dict[str, Any]:
    return {"uuid": vm.uuid, "hostname": vm.hostname, **lifecycle.vm_state_view(vm)}


def _act(vm_uuid: uuid.UUID, action: str) -> dict[str, Any]:
    session = get_session()
    vm = vm_by_uuid(session, vm_uuid, _customer())
    lifecycle.request(session, vm, action)
    body = _state(vm)
    session.commit()
    return body


@blp.route("/vms/<uuid:vm_uuid>/actions")
class VmActions(MethodView):
    @require(CUSTOMERS_AND_OPERATORS)
    @blp.arguments(ActionSchema)
    @blp.response(202, VmStateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], vm_uuid: uuid.UUID) -> dict[str, Any]:
        """Request start, stop, reboot, reinstall or delete

        Recorded as the VM's requested state and carried out by its hypervisor; the request
        stays visible (``transition_pending``) until the host reports it reached. Impossible
        in the VM's actual state → 409 saying why. Customers: their own VMs only.
        """
        return _act(vm_uuid, data["action"])


def _action_view(action: str) -> type[MethodView]:
    def post(self: Any, vm_uuid: uuid.UUID) -> dict[str, Any]:
        return _act(vm_uuid, action)

    post.__doc__ = f"Request {action} (same as actions with {{'action': '{action}'}})"
    post = blp.alt_response(409, response="CONFLICT")(post)
    post = blp.alt_response(404, response="NOT_FOUND")(post)
    post = blp.response(202, VmStateSchema)(post)
    post = require(CUSTOMERS_AND_OPERATORS)(post)
    return type(f"Vm{action.title()}", (MethodView,), {"post": post})


for _action in lifecycle.ACTIONS:
    blp.route(f"/vms/<uuid:vm_uuid>/{_action}", endpoint=f"vm_{_action}")(_action_view(_action))


@blp.route("/vms/<uuid:vm_uuid>/report")
class VmReport(MethodView):
    @require(READERS)
    @blp.arguments(ReportSchema)
    @blp.response(200, VmStateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any], vm_uuid: uuid.UUID) -> dict[str, Any]:
        """A host reports a VM's actual state

        For hypervisors (reader token). Reaching ``rebooting`` or ``installing`` turns the
        request back to ``running``; reporting ``deleted`` for a VM whose deletion was
        requested removes it and frees its addresses and capacity. ``applied_document``
        alone (no ``state``) is what the ENC script, the Hiera backend and the ext_pillar
        send for a VM's certname (drift).
        """
        session = get_session()
        vm = vm_by_uuid(session, vm_uuid)
        deleted = False
        if data["state"] is not None:
            result = lifecycle.report_vm(session, vm, data["state"])
            deleted = result["deleted"]
        body = result if deleted else {**_state(vm), "deleted": False}
        if not deleted:
            _applied(vm.hostname, data["applied_document"])
        session.commit()
        return body


class MigrateSchema(Schema):
    hypervisor = NameOrId(
        values.parse_hostname,
        allow_none=True,
        load_default=None,
        metadata={"description": "fqdn, short name or node id; omitted: the best other host"},
    )
    method = string(32, allow_none=True, load_default=None, metadata={"example": "kvm"})


class PlacementSchema(Schema):
    uuid = fields.UUID(required=True)
    hostname = fields.String(required=True)
    hypervisor = fields.String(required=True)
    virt_node_id = fields.Integer(required=True)
    method = fields.String(required=True)


@blp.route("/vms/<uuid:vm_uuid>/migrate")
class VmMigrate(MethodView):
    @require(OPERATORS)
    # Every field is optional, the body too: no body picks the best other host.
    @blp.arguments(MigrateSchema, required=False)
    @blp.response(200, PlacementSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], vm_uuid: uuid.UUID) -> dict[str, Any]:
        """Place or move a VM (operators)

        Validated like automatic placement: the target must be running, offer the method and
        have room; 409 says what is missing. Without ``hypervisor`` the least-loaded other
        qualifying hypervisor is chosen. An unplaced VM needs ``method``.
        """
        session = get_session()
        vm = vm_by_uuid(session, vm_uuid)
        nm = placement.migrate(session, vm, overcommit(), data["hypervisor"], data["method"])
        body = {
            "uuid": vm.uuid,
            "hostname": vm.hostname,
            "hypervisor": nm.virt_node.node.fqdn,
            "virt_node_id": nm.virt_node_id,
            "method": nm.virt_method.name,
        }
        session.commit()
        return body


# --- nodes --------------------------------------------------------------------------------------


class NodeReportSchema(Schema):
    state = with_rule(
        string(32, allow_none=True, load_default=None, metadata={"example": "running"}),
        "state must be the name of a node state (GET /api/v1/node-states)",
    )
    facts = fields.Dict(
        keys=fields.String(), allow_none=True, load_default=None, metadata={"example": {}}
    )
    applied_document = APPLIED_DOCUMENT


class NodeHeartbeatSchema(Schema):
    id = fields.Integer(required=True)
    fqdn = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "set by operators"})
    reported_state = fields.String(required=True, allow_none=True)
    last_seen_at = fields.DateTime(required=True, allow_none=True)
    stale = fields.Boolean(required=True)


def stale_seconds() -> int:
    return current_settings().node_stale_seconds


@blp.route("/nodes/<string:ref>/report")
class NodeReport(MethodView):
    @require(READERS)
    @blp.arguments(NodeReportSchema)
    @blp.response(200, NodeHeartbeatSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, data: dict[str, Any], ref: str) -> dict[str, Any]:
        """A node's heartbeat: its own state and facts

        ``state`` goes to ``reported_state``; the operator's ``state`` is left alone. A node
        that has not reported for VIRTAPI_NODE_STALE_SECONDS shows ``stale: true``.
        """
        session = get_session()
        beat = lifecycle.report_node(session, ref, data["state"], data["facts"])
        _applied(beat.fqdn, data["applied_document"])
        body = {**asdict(beat), "stale": lifecycle.is_stale(beat, stale_seconds())}
        session.commit()
        return body


# --- IPAM ---------------------------------------------------------------------------------------


class AvailableQuerySchema(Schema):
    count = query_int(1, 1000, load_default=10)


def _available_schema(version: int) -> type[Schema]:
    return Schema.from_dict(
        {
            "network_id": fields.Integer(required=True),
            "prefix": fields.String(required=True),
            "gateway": IPAddress(version, required=True, allow_none=True),
            "size": fields.Integer(required=True, metadata={"description": "addresses in prefix"}),
            "reserved": fields.Integer(
                required=True, metadata={"description": "never handed out: network, broadcast, gw"}
            ),
            "assigned": fields.Integer(required=True),
            "free": fields.Integer(required=True),
            "available": fields.List(IPAddress(version), required=True),
        },
        name=f"Ipv{version}AvailableSchema",
    )


def _allocate_schemas(version: int) -> tuple[type[Schema], type[Schema]]:
    request = Schema.from_dict(
        {
            "interface_id": ref_id(required=True),
            "address": with_rule(
                IPAddress(
                    version,
                    allow_none=True,
                    load_default=None,
                    metadata={"description": "a specific free address; omitted: the next free one"},
                ),
                INSIDE_NETWORK,
            ),
        },
        name=f"Ipv{version}AllocateSchema",
    )
    response = Schema.from_dict(
        {
            "id": fields.Integer(required=True),
            "address": IPAddress(version, required=True),
            "network_id": fields.Integer(required=True),
            "vm_interface_id": fields.Integer(required=True),
        },
        name=f"Ipv{version}AllocationSchema",
    )
    return request, response


def _ipam_views(version: int) -> None:
    available_schema = _available_schema(version)
    request_schema, response_schema = _allocate_schemas(version)

    def available(self: Any, args: dict[str, Any], id: int) -> dict[str, Any]:
        session = get_session()
        net = networks.get_network(session, version, id)
        used = ipam.usage(session, net)
        return {
            "network_id": net.id,
            "prefix": str(net.cidr),
            "gateway": net.gateway,
            **used.as_dict(),
            "available": ipam.available(session, net, args["count"]),
        }

    available.__doc__ = (
        f"Usage and next free addresses of an IPv{version} network\n\n"
        "``count`` (default 10, at most 1000) addresses in the order allocation hands them out."
    )
    available = blp.alt_response(404, response="NOT_FOUND")(available)
    available = blp.response(200, available_schema)(available)
    available = blp.arguments(AvailableQuerySchema, location="query")(available)
    available = require(READERS)(available)
    blp.route(f"/ipv{version}-networks/<int:id>/available", endpoint=f"ipv{version}_available")(
        type(f"Ipv{version}Available", (MethodView,), {"get": available})
    )

    def allocate(self: Any, data: dict[str, Any], id: int) -> Any:
        session = get_session()
        net = networks.get_network(session, version, id)
        iface = session.get(VmInterface, data["interface_id"])
        if iface is None:
            raise NotFound(
                f"no vm interface with id {data['interface_id']}",
                errors={"interface_id": ["no such interface"]},
            )
        row = ipam.allocate(session, net, iface, data["address"])
        body = {
            "id": row.id,
            "address": row.address,
            "network_id": row.network_id,
            "vm_interface_id": row.vm_interface_id,
        }
        session.commit()
        return body

    allocate.__doc__ = (
        f"Give an interface an address of an IPv{version} network (operators)\n\n"
        "The next free one (never network, broadcast or gateway), or ``address`` if it is "
        "inside and free. 409 when the network is exhausted or the address taken."
    )
    allocate = blp.alt_response(409, response="CONFLICT")(allocate)
    allocate = blp.alt_response(404, response="NOT_FOUND")(allocate)
    allocate = blp.response(201, response_schema)(allocate)
    allocate = blp.arguments(request_schema)(allocate)
    allocate = require(OPERATORS)(allocate)
    blp.route(f"/ipv{version}-networks/<int:id>/allocate", endpoint=f"ipv{version}_allocate")(
        type(f"Ipv{version}Allocate", (MethodView,), {"post": allocate})
    )


_ipam_views(4)
_ipam_views(6)
