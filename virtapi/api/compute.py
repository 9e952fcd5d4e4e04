"""VMs and per-customer quotas."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from .. import values
from ..auth import CUSTOMERS_AND_OPERATORS, EVERYONE, Principal
from ..models import (
    CustomerQuota,
    Image,
    Install,
    Node,
    NodeMethod,
    Storage,
    VirtMethod,
    VirtNode,
    Vlan,
    Vm,
    VmInterface,
    VmState,
)
from ..models.network import ADDRESS_MODELS
from ..services import installs as install_service
from ..services import lifecycle
from ..services import quotas as quota_service
from ..services import vms as vm_service
from ..services.validation import checked
from . import crud, reads
from .fields import (
    INT64_MAX,
    IPAddress,
    MACAddress,
    NameOrId,
    boolean,
    hostname_field,
    int32,
    int64,
    name_field,
    ref_id,
    string,
    updating,
)
from .filters import Filter
from .network import INTERFACE_SHAPE, InterfaceSchema
from .operations import overcommit
from .storage import DISK_SHAPE, DiskSchema

blp = Blueprint("compute", __name__, url_prefix="/api/v1", description="VMs and quotas")


class HostSchema(Schema):
    virt_node_id = fields.Integer(required=True)
    node_id = fields.Integer(required=True, attribute="virt_node.node_id")
    fqdn = fields.String(required=True, attribute="virt_node.node.fqdn")


class VmSchema(Schema):
    id = fields.Integer(required=True)
    uuid = fields.UUID(required=True)
    hostname = fields.String(required=True)
    customer_id = fields.Integer(required=True)
    cores = fields.Integer(required=True)
    ram = fields.Integer(required=True, metadata={"description": "bytes"})
    cputime_limit = fields.Integer(required=True, allow_none=True)
    host = fields.Nested(
        HostSchema,
        attribute="node_method",
        required=True,
        allow_none=True,
        metadata={"description": "the hypervisor; null until placed"},
    )
    virt_method = fields.Function(
        lambda vm: vm.node_method.virt_method.name if vm.node_method else None,
        required=True,
        allow_none=True,
        metadata={"type": "string"},
    )
    requested_state = fields.String(required=True, attribute="requested_state.name")
    actual_state = fields.String(required=True, attribute="actual_state.name")
    transition_pending = fields.Function(
        lambda vm: vm.requested_state_id != vm.actual_state_id,
        required=True,
        metadata={"type": "boolean", "description": "requested state not yet reported reached"},
    )
    interfaces = fields.List(fields.Nested(InterfaceSchema), required=True)
    disks = fields.List(fields.Nested(DiskSchema), required=True)
    reported_at = fields.DateTime(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    install = fields.Function(
        install_service.vm_install,
        required=True,
        allow_none=True,
        metadata={
            "type": "object",
            "description": "the latest network install (state, phase, percent …); null if none",
        },
    )


def _install_shape() -> reads.Many:
    """A VM's latest install, summarised by the one function the ORM path uses."""
    vm, image = aliased(Vm), aliased(Image)
    columns = ("id", "node_id", "state", "hostname", "phase", "percent", "message", "ssh_keys",
               "root_password_hash", "created_at", "updated_at", "finished_at")  # fmt: skip
    shape = reads.Shape(
        None,
        Install,
        {name: getattr(Install, name) for name in columns}
        | {"vm_uuid": vm.uuid, "image_name": image.name},
        joins=((vm, vm.id == Install.vm_id), (image, image.id == Install.image_id)),
    )

    def summary(row: reads.Attrs) -> Any:
        uuid = row.vm_uuid
        vm_ = reads.Attrs(uuid=uuid) if uuid is not None else None
        return install_service.install_summary(
            reads.Attrs(row, vm=vm_, image=reads.Attrs(name=row.image_name))  # type: ignore[arg-type]
        )

    return reads.Many(shape, Install.vm_id, (Install.id.desc(),), first=True, build=summary)


def _vm_shape() -> reads.Shape:
    # Aliases: the filters' subqueries (hypervisor, area, state …) must not correlate to them.
    method, virt_node, node = aliased(NodeMethod), aliased(VirtNode), aliased(Node)
    virt_method, requested, actual = aliased(VirtMethod), aliased(VmState), aliased(VmState)
    host = reads.Shape(
        HostSchema,
        method,
        {"virt_node_id": method.virt_node_id, "node_id": virt_node.node_id, "fqdn": node.fqdn},
    )
    declared = VmSchema._declared_fields
    return reads.Shape(
        VmSchema,
        Vm,
        {
            "host": reads.One(host, method.id),
            "virt_method": virt_method.name,
            "requested_state": requested.name,
            "actual_state": actual.name,
            # The schema's own function, on the row.
            "transition_pending": reads.Derived(declared["transition_pending"].serialize_func),  # type: ignore[attr-defined]
            "interfaces": reads.Many(INTERFACE_SHAPE, VmInterface.vm_id, (VmInterface.id,)),
            "disks": reads.Many(DISK_SHAPE, Storage.vm_id, (Storage.id,)),
            "install": _install_shape(),
        },
        joins=(
            (method, method.id == Vm.node_method_id),
            (virt_node, virt_node.id == method.virt_node_id),
            (node, node.id == virt_node.node_id),
            (virt_method, virt_method.id == method.virt_method_id),
            (requested, requested.id == Vm.requested_state_id),
            (actual, actual.id == Vm.actual_state_id),
        ),
        hidden={
            "requested_state_id": Vm.requested_state_id,
            "actual_state_id": Vm.actual_state_id,
        },
    )


VM_SHAPE = _vm_shape()


class VmBaseSchema(Schema):
    hostname = hostname_field(required=True)
    cores = int32(1, required=True)
    ram = int64(1, required=True, metadata={"description": "bytes"})
    customer_id = ref_id(metadata={"description": "required for operators; customers: own"})
    cputime_limit = int32(1, allow_none=True)
    requested_state = NameOrId(metadata={"description": "VM state name or id (stopped)"})
    actual_state = NameOrId(metadata={"description": "operators only"})
    virt_node_id = ref_id(allow_none=True, metadata={"description": "placement, operators only"})
    virt_method = NameOrId(allow_none=True, metadata={"description": "placement, operators only"})
    uuid = fields.UUID(metadata={"description": "operators only; generated if omitted"})


class VmDiskRequestSchema(Schema):
    size = int64(1, required=True, metadata={"description": "bytes"})
    storage_type = NameOrId(required=True, metadata={"description": "lvm, qcow2, raw, ceph"})
    cache_option = NameOrId(load_default="default", metadata={"description": "libvirt cache mode"})
    ceph_pool = NameOrId(load_default=None, metadata={"description": "required for ceph disks"})
    discard = boolean(load_default=None, metadata={"description": "ceph disks (true)"})
    read_iops_limit = int64(1, allow_none=True, metadata={"description": "operators only"})
    write_iops_limit = int64(1, allow_none=True, metadata={"description": "operators only"})
    read_bps_limit = int64(1, allow_none=True, metadata={"description": "operators only"})
    write_bps_limit = int64(1, allow_none=True, metadata={"description": "operators only"})


class VmInterfaceRequestSchema(Schema):
    ipv4_network_id = ref_id(
        allow_none=True, metadata={"description": "allocate the next free IPv4 address here"}
    )
    ipv6_network_id = ref_id(
        allow_none=True, metadata={"description": "allocate the next free IPv6 address here"}
    )
    ipv4_address = IPAddress(4, allow_none=True, metadata={"description": "operators only"})
    ipv6_address = IPAddress(6, allow_none=True, metadata={"description": "operators only"})
    mac = MACAddress(allow_none=True, metadata={"description": "operators only; else generated"})
    vlans = fields.List(
        ref_id(),
        load_default=list,
        validate=validate.Length(max=64),
        metadata={"description": "VLAN ids to join (a network's own VLAN is joined anyway)"},
    )


class VmCreateSchema(VmBaseSchema):
    requested_state = NameOrId(
        metadata={"description": "running (start at once) or stopped (default)"}
    )
    virt_method = NameOrId(
        allow_none=True,
        metadata={"description": "kvm (default), qemu …; placement picks a host that runs it"},
    )
    virt_node_id = ref_id(
        allow_none=True, metadata={"description": "operators only; else placed automatically"}
    )
    disks = fields.List(
        fields.Nested(VmDiskRequestSchema), load_default=list, validate=validate.Length(max=32)
    )
    interfaces = fields.List(
        fields.Nested(VmInterfaceRequestSchema),
        load_default=list,
        validate=validate.Length(max=32),
    )


def _vm_scope(customer_id: int) -> Any:
    return Vm.customer_id == customer_id


def _vm_filter_hypervisor(value: str) -> Any:
    # A hypervisor is a node: by fqdn or node id (virt_node_id has its own filter).
    # An uncorrelated IN (…) lets PostgreSQL find the VMs through ix_vm_node_method_id; the
    # correlated EXISTS of relationship.has() made it walk the whole vm table in id order
    # (tests/models/test_list_indexes.py).
    node = Node.fqdn == value
    if value.isdigit() and int(value) <= INT64_MAX:
        node = node | (Node.id == int(value))
    methods = (
        select(NodeMethod.id)
        .join(VirtNode, VirtNode.id == NodeMethod.virt_node_id)
        .join(Node, Node.id == VirtNode.node_id)
        .where(node)
    )
    return Vm.node_method_id.in_(methods)


def _vm_filter_address(value: str) -> Any:
    address = checked(values.parse_ip, value, "address")
    model = ADDRESS_MODELS[address.version]
    return Vm.interfaces.any(
        VmInterface.id.in_(select(model.vm_interface_id).where(model.address == address))
    )


def _state(column: Any) -> Any:
    return lambda v: column.has(VmState.name == v)


_iface = selectinload(Vm.interfaces)
_disk = selectinload(Vm.disks)
VM_OPTIONS = (
    joinedload(Vm.node_method).joinedload(NodeMethod.virt_node).joinedload(VirtNode.node),
    joinedload(Vm.requested_state),
    joinedload(Vm.actual_state),
    _iface.selectinload(VmInterface.vlans),
    _iface.selectinload(VmInterface.ipv4_addresses),
    _iface.selectinload(VmInterface.ipv6_addresses),
    _disk.selectinload(Storage.ceph),
    selectinload(Vm.installs).joinedload(Install.image),
)

VMS = crud.register(
    blp,
    crud.Resource(
        path="vms",
        model=Vm,
        title="VM",
        schema=VmSchema,
        create_schema=VmCreateSchema,
        update_schema=updating(VmBaseSchema),
        filters={
            "hostname": Filter(string(253), Vm.hostname),
            "customer_id": Filter(ref_id(), Vm.customer_id),
            "hypervisor": Filter(string(253), _vm_filter_hypervisor),
            "state": Filter(string(32), _state(Vm.actual_state)),
            "requested_state": Filter(string(32), _state(Vm.requested_state)),
            "actual_state": Filter(string(32), _state(Vm.actual_state)),
            "uuid": Filter(fields.UUID(), Vm.uuid),
            "virt_node_id": Filter(
                ref_id(), lambda v: Vm.node_method.has(NodeMethod.virt_node_id == v)
            ),
            "area": Filter(
                name_field(),
                lambda v: Vm.node_method.has(
                    NodeMethod.virt_node.has(VirtNode.node.has(Node.area == v))
                ),
            ),
            "mac": Filter(MACAddress(), lambda v: Vm.interfaces.any(VmInterface.mac == v)),
            "vni": Filter(
                int32(1), lambda v: Vm.interfaces.any(VmInterface.vlans.any(Vlan.vni == v))
            ),
            "address": Filter(IPAddress(None), _vm_filter_address),
        },
        read_roles=EVERYONE,
        write_roles=CUSTOMERS_AND_OPERATORS,
        customer_scope=_vm_scope,
        options=VM_OPTIONS,
        shape=VM_SHAPE,
        create=lambda s, p, data: vm_service.create_vm(s, p, data, overcommit=overcommit()),
        update=lambda s, p, vm, data: vm_service.update_vm(s, p, vm, data, overcommit=overcommit()),
        delete=lifecycle.delete_vm,
        description=(
            "Customers see and change only their own VMs, within their quota, and cannot set "
            "placement. Filters: hostname, customer_id, hypervisor (fqdn or node id), "
            "virt_node_id, state (= actual_state), requested_state, actual_state, uuid, area, "
            "mac, vni, address (IPv4 or IPv6)."
        ),
    ),
)


# --- quotas -------------------------------------------------------------------------------------


class UsageSchema(Schema):
    vms = fields.Integer(required=True)
    cores = fields.Integer(required=True)
    ram = fields.Integer(required=True)
    disk = fields.Integer(required=True)


class QuotaCreateSchema(Schema):
    customer_id = ref_id(required=True)
    max_vms = int32(0, allow_none=True, load_default=None)
    max_cores = int32(0, allow_none=True, load_default=None)
    max_ram = int64(0, allow_none=True, load_default=None, metadata={"description": "bytes"})
    max_disk = int64(0, allow_none=True, load_default=None, metadata={"description": "bytes"})
    max_snapshots = int32(0, allow_none=True, load_default=None)


class QuotaSchema(Schema):
    customer_id = fields.Integer(required=True)
    max_vms = fields.Integer(required=True, allow_none=True)
    max_cores = fields.Integer(required=True, allow_none=True)
    max_ram = fields.Integer(required=True, allow_none=True)
    max_disk = fields.Integer(required=True, allow_none=True)
    max_snapshots = fields.Integer(required=True, allow_none=True)
    used = fields.Method(
        "_used",
        required=True,
        metadata={
            "type": "object",
            "description": "current usage: vms, cores, ram (bytes), disk (bytes)",
            "properties": {k: {"type": "integer"} for k in ("vms", "cores", "ram", "disk")},
            "required": ["vms", "cores", "ram", "disk"],
        },
    )

    def _used(self, quota: CustomerQuota) -> dict[str, int]:
        session = Session.object_session(quota)
        assert session is not None
        usage = quota_service.usage(session, quota.customer_id)
        return UsageSchema().dump(usage)


class QuotaUpdateSchema(Schema):
    max_vms = int32(0, allow_none=True)
    max_cores = int32(0, allow_none=True)
    max_ram = int64(0, allow_none=True)
    max_disk = int64(0, allow_none=True)
    max_snapshots = int32(0, allow_none=True)


def _create_quota(session: Session, principal: Principal, data: dict[str, Any]) -> CustomerQuota:
    quota = CustomerQuota(**data)
    session.add(quota)
    return quota


QUOTAS = crud.register(
    blp,
    crud.Resource(
        path="customer-quotas",
        model=CustomerQuota,
        title="customer quota",
        schema=QuotaSchema,
        create_schema=QuotaCreateSchema,
        update_schema=QuotaUpdateSchema,
        filters={"customer_id": Filter(ref_id(), CustomerQuota.customer_id)},
        read_roles=EVERYONE,
        customer_scope=lambda c: CustomerQuota.customer_id == c,
        create=_create_quota,
        description=(
            "Ceilings per customer (null: no limit), keyed by customer id, with current usage. "
            "Operators manage them; a customer reads its own."
        ),
    ),
)
