"""Creating, changing and deleting VMs; what customers may and may not set.

``create_vm`` is the one entry point for new VMs (the API's POST /vms is a thin view over it),
so placement, IPAM and MAC generation can grow here without touching the views.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import NodeMethod, VirtMethod, VirtNode, Vm, VmState
from . import network
from .caller import Caller, customer_of
from .errors import Forbidden, InvalidInput, NotFound
from .quotas import check_quota
from .vocabulary import resolve

# What only operators set: where a VM runs, what its host reported, whose it is.
OPERATOR_ONLY = ("virt_node_id", "virt_method", "actual_state", "customer_id", "uuid")
PLACEMENT = ("virt_node_id", "virt_method")


def _refuse_operator_fields(caller: Caller, data: dict[str, Any]) -> None:
    customer = customer_of(caller)
    if customer is None:
        return
    given = [k for k in OPERATOR_ONLY if k in data]
    if given == ["customer_id"] and data["customer_id"] == customer:
        return
    if given:
        what = "placement" if set(given) & set(PLACEMENT) else ", ".join(given)
        raise Forbidden(
            f"customers cannot set {what}; leave out {', '.join(given)}",
            errors={k: ["operators only"] for k in given},
        )


def resolve_placement(
    session: Session, virt_node_id: int | None, method: str | int | None
) -> NodeMethod | None:
    """The node_method row for a hypervisor + method; None when both are None (unplaced)."""
    if virt_node_id is None:
        if method is not None:
            raise InvalidInput(
                "virt_method needs virt_node_id", errors={"virt_node_id": ["required"]}
            )
        return None
    virt_node = session.get(VirtNode, virt_node_id)
    if virt_node is None:
        raise NotFound(
            f"no virt node with id {virt_node_id}",
            errors={"virt_node_id": [f"no virt node with id {virt_node_id}"]},
        )
    if method is None:
        if len(virt_node.methods) != 1:
            names = ", ".join(nm.virt_method.name for nm in virt_node.methods) or "none"
            raise InvalidInput(
                f"give virt_method: this hypervisor runs {names}",
                errors={"virt_method": ["required for this hypervisor"]},
            )
        return virt_node.methods[0]
    vm_method = resolve(session, VirtMethod, method, "virt_method")
    placement = session.scalar(
        select(NodeMethod).where(
            NodeMethod.virt_node_id == virt_node.id, NodeMethod.virt_method_id == vm_method.id
        )
    )
    if placement is None:
        raise InvalidInput(
            f"virt node {virt_node.id} does not run {vm_method.name}",
            errors={"virt_method": [f"not supported by virt node {virt_node.id}"]},
        )
    return placement


def create_vm(session: Session, caller: Caller, data: dict[str, Any]) -> Vm:
    """A new VM from validated input; customers get theirs within quota and unplaced."""
    values = dict(data)
    _refuse_operator_fields(caller, values)
    customer = customer_of(caller)
    if customer is not None:
        values["customer_id"] = customer
        check_quota(session, customer, vms=1, cores=values["cores"], ram=values["ram"])
    elif values.get("customer_id") is None:
        raise InvalidInput("customer_id is required", errors={"customer_id": ["required"]})
    placement = resolve_placement(
        session, values.pop("virt_node_id", None), values.pop("virt_method", None)
    )
    requested = resolve(
        session, VmState, values.pop("requested_state", "stopped"), "requested_state"
    )
    actual = resolve(session, VmState, values.pop("actual_state", "stopped"), "actual_state")
    vm = Vm(node_method=placement, requested_state=requested, actual_state=actual, **values)
    session.add(vm)
    return vm


def update_vm(session: Session, caller: Caller, vm: Vm, data: dict[str, Any]) -> None:
    values = dict(data)
    _refuse_operator_fields(caller, values)
    customer = customer_of(caller)
    if customer is not None:
        check_quota(
            session,
            customer,
            cores=values.get("cores", vm.cores) - vm.cores,
            ram=values.get("ram", vm.ram) - vm.ram,
        )
    if "virt_node_id" in values or "virt_method" in values:
        virt_node_id = values.pop("virt_node_id", None)
        method = values.pop("virt_method", None)
        if "virt_node_id" not in data and vm.node_method is not None:
            virt_node_id = vm.node_method.virt_node_id  # a new method on the same host
        vm.node_method = resolve_placement(session, virt_node_id, method)
    for key in ("requested_state", "actual_state"):
        if key in values:
            setattr(vm, key, resolve(session, VmState, values.pop(key), key))
    for key, value in values.items():
        setattr(vm, key, value)


def delete_vm(session: Session, caller: Caller, vm: Vm) -> None:
    """Delete a VM with its disks and interfaces, each recorded in the change log; its
    addresses go back to the free pool."""
    from .storage import delete_disk

    for disk in list(vm.disks):
        delete_disk(session, disk)
    for iface in list(vm.interfaces):
        network.delete_interface(session, iface)
    session.flush()
    session.expire(vm)
    session.delete(vm)
