"""Requested versus actual state of VMs, and node heartbeats.

People (customers, operators) set what a VM *should* be: the requested state. Hosts report
what it *is*: the actual state. A request is checked against the actual state and kept until
a report shows it reached, so nothing asked for is silently lost (the ucloud seed's problem:
a flag flipped in the database and forgotten when the host never acted on it).

    action     requested    allowed when actual is              done when a host reports
    start      running      pending, stopped, crashed           running
    stop       stopped      pending, running, rebooting,        stopped
                            installing, crashed
    reboot     rebooting    running                             rebooting (then requested: running)
    reinstall  installing   running, stopped, crashed           installing (then requested: running)
    delete     deleted      anything                            deleted (the VM row is removed)

An action whose target already is the actual state is allowed only to cancel another pending
request (e.g. ``start`` while a ``stop`` waits); once the VM is being deleted, nothing else can
be requested.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models import Node, NodeState, Vm, VmState
from ..models.base import utcnow
from .bulk import RECORDED
from .caller import Caller
from .errors import Conflict, InvalidInput
from .lookups import by_name, node_not_found, node_ref_criterion
from .network.interfaces import delete_interface
from .storage import delete_disk

ACTIONS = {
    "start": "running",
    "stop": "stopped",
    "reboot": "rebooting",
    "reinstall": "installing",
    "delete": "deleted",
}
ALLOWED_FROM = {
    "start": {"pending", "stopped", "crashed"},
    "stop": {"pending", "running", "rebooting", "installing", "crashed"},
    "reboot": {"running"},
    "reinstall": {"running", "stopped", "crashed"},
    "delete": {"pending", "running", "stopped", "rebooting", "installing", "crashed"},
}
# Transitional requests: once the host reports having begun them, the goal becomes running.
THEN_RUNNING = {"rebooting", "installing"}
STATE_ACTIONS = {state: action for action, state in ACTIONS.items()}


def action_for_state(state: str) -> str:
    """The action behind a requested state (for clients that PATCH requested_state)."""
    try:
        return STATE_ACTIONS[state]
    except KeyError:
        raise InvalidInput(
            f"{state!r} cannot be requested; use one of: {', '.join(sorted(STATE_ACTIONS))}",
            errors={"requested_state": ["not requestable"]},
        ) from None


def request(session: Session, vm: Vm, action: str) -> Vm:
    """Record what should happen to ``vm``; 409 when the actual state does not allow it."""
    if action not in ACTIONS:
        raise InvalidInput(
            f"unknown action {action!r}; use one of: {', '.join(ACTIONS)}",
            errors={"action": ["unknown"]},
        )
    target = ACTIONS[action]
    requested = vm.requested_state.name
    actual = vm.actual_state.name
    if requested == "deleted":
        raise Conflict(
            f"VM {vm.hostname} is being deleted (actual state: {actual}); "
            "nothing else can be requested",
            code="state",
        )
    if requested == target:
        if actual == target:
            raise Conflict(f"VM {vm.hostname} is already {actual}", code="state")
        raise Conflict(
            f"{action} is already requested for VM {vm.hostname} (requested: {requested}, "
            f"actual: {actual}); waiting for its hypervisor to report it",
            code="state",
        )
    if actual not in ALLOWED_FROM[action] and actual != target:
        allowed = ", ".join(sorted(ALLOWED_FROM[action]))
        raise Conflict(
            f"cannot {action} VM {vm.hostname}: it is {actual} (possible when {allowed})",
            code="state",
            errors={"actual_state": [actual]},
        )
    vm.requested_state = by_name(session, VmState, target)
    session.flush()
    return vm


def delete_vm(session: Session, caller: Caller | None, vm: Vm) -> None:
    """Delete a VM with its disks and interfaces, each recorded in the change log; its
    addresses go back to the free pool. (The end of a VM's life: the API's DELETE for
    operators, a host's report of a requested deletion for everyone else.)"""
    for disk in list(vm.disks):
        delete_disk(session, disk)
    for iface in list(vm.interfaces):
        delete_interface(session, iface)
    session.flush()
    session.expire(vm)
    session.delete(vm)
    session.flush()


def report_vm(session: Session, vm: Vm, state: str, now: datetime | None = None) -> dict[str, Any]:
    """A host says what the VM is; returns the VM's states after the report.

    When the host confirms a deletion the VM is removed, freeing its addresses and capacity.
    """
    if state == "pending":
        raise InvalidInput(
            "'pending' means not yet reported; report what the VM is",
            errors={"state": ["not reportable"]},
        )
    actual = by_name(session, VmState, state)
    vm.actual_state = actual
    vm.reported_at = now or utcnow()
    requested = vm.requested_state.name
    if requested in THEN_RUNNING and state == requested:
        vm.requested_state = by_name(session, VmState, "running")
    result = {
        "uuid": str(vm.uuid),
        "hostname": vm.hostname,
        "requested_state": vm.requested_state.name,
        "actual_state": state,
        "deleted": False,
    }
    if requested == "deleted" and state == "deleted":
        delete_vm(session, None, vm)
        result["deleted"] = True
    else:
        session.flush()
    return result


@dataclass(frozen=True)
class Heartbeat:
    """A node as its heartbeat left it."""

    id: int
    fqdn: str
    state: str  # set by operators
    reported_state: str | None
    last_seen_at: datetime


def _state_name(column: Any) -> Any:
    return select(NodeState.name).where(NodeState.id == column).scalar_subquery()


def report_node(
    session: Session,
    ref: str | int,
    state: str | None = None,
    facts: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Heartbeat:
    """A heartbeat of node ``ref`` (id or fqdn, as `node_by_ref`): its own view of its state
    and its facts (replacing the last ones).

    The operator-set state (``state``) is left alone: a host saying it runs does not take it
    out of maintenance. The report goes to ``reported_state``.

    One ``UPDATE … RETURNING``: a thousand hosts report every minute, so a heartbeat neither
    loads the node nor reads its stored facts. It changes only columns that are in no node
    document (audit.REPORTED), so it records, invalidates and steps nothing.
    """
    if facts is not None and not isinstance(facts, dict):
        raise InvalidInput("facts must be an object", errors={"facts": ["not an object"]})
    criterion = node_ref_criterion(ref)
    if criterion is None:
        raise node_not_found(ref)
    values: dict[str, Any] = {"last_seen_at": now or utcnow()}
    if state is not None:
        values["reported_state_id"] = (
            select(NodeState.id).where(NodeState.name == state).scalar_subquery()
        )
    if facts is not None:
        values["facts"] = facts
    row = session.execute(
        update(Node)
        .where(criterion)
        .values(values)
        .returning(
            Node.id,
            Node.fqdn,
            _state_name(Node.node_state_id),
            _state_name(Node.reported_state_id),
            Node.last_seen_at,
        )
        # Only REPORTED columns: nothing for the change log or the caches to see.
        .execution_options(synchronize_session=False, **{RECORDED: True})
    ).one_or_none()
    if row is None:
        raise node_not_found(ref)
    if state is not None and row[3] is None:
        by_name(session, NodeState, state)  # raises the 422 naming the known states
    return Heartbeat(*row)


def is_stale(node: Node | Heartbeat, stale_seconds: int, now: datetime | None = None) -> bool:
    """No heartbeat for longer than ``stale_seconds`` (or never one)."""
    if node.last_seen_at is None:
        return True
    now = now or datetime.now(UTC)
    return now - node.last_seen_at > timedelta(seconds=stale_seconds)


def vm_state_view(vm: Vm) -> dict[str, Any]:
    """The two states and whether a request still waits for its host."""
    return {
        "requested_state": vm.requested_state.name,
        "actual_state": vm.actual_state.name,
        "transition_pending": vm.requested_state.name != vm.actual_state.name,
        "reported_at": vm.reported_at,
    }
