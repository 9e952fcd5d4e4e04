"""Requested vs actual VM state, host reports, node heartbeats and staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.fleet import GiB, add_hypervisor
from virtapi.services import lifecycle
from virtapi.services.errors import Conflict, InvalidInput, NotFound
from virtapi.services.lookups import node_by_ref, vm_by_uuid
from virtapi.services.network import ipam, networks
from virtapi.services.placement import Overcommit
from virtapi.services.vms import provision_vm


@pytest.fixture
def vm(session: Any) -> Any:
    add_hypervisor(session, "hv01")
    net = networks.create_network(session, 4, "10.0.0.0/29", gateway="10.0.0.1")
    return provision_vm(
        session,
        hostname="life.example.net",
        cores=1,
        ram=GiB,
        customer_id=9,
        overcommit=Overcommit(),
        interfaces=[{"ipv4_network_id": net.id}],
    )


def states(vm: Any) -> tuple[str, str]:
    return vm.requested_state.name, vm.actual_state.name


def test_start_stop_cycle_keeps_the_request_until_reported(session: Any, vm: Any) -> None:
    assert states(vm) == ("running", "pending")
    with pytest.raises(Conflict, match="start is already requested .* waiting for its hypervisor"):
        lifecycle.request(session, vm, "start")
    with pytest.raises(Conflict, match="cannot reboot VM life.example.net: it is pending"):
        lifecycle.request(session, vm, "reboot")
    lifecycle.report_vm(session, vm, "running")
    assert states(vm) == ("running", "running") and vm.reported_at is not None
    with pytest.raises(Conflict, match="already running"):
        lifecycle.request(session, vm, "start")
    lifecycle.request(session, vm, "stop")
    assert lifecycle.vm_state_view(vm)["transition_pending"] is True
    # Changing one's mind before the host acted: start cancels the pending stop.
    lifecycle.request(session, vm, "start")
    assert states(vm) == ("running", "running")
    lifecycle.request(session, vm, "stop")
    lifecycle.report_vm(session, vm, "running")  # a host's report from before it acted
    assert states(vm) == ("stopped", "running")
    lifecycle.report_vm(session, vm, "stopped")
    assert states(vm) == ("stopped", "stopped")
    assert lifecycle.vm_state_view(vm)["transition_pending"] is False
    with pytest.raises(Conflict, match="cannot reboot VM .*: it is stopped"):
        lifecycle.request(session, vm, "reboot")


def test_reboot_and_reinstall_end_in_running(session: Any, vm: Any) -> None:
    lifecycle.report_vm(session, vm, "running")
    lifecycle.request(session, vm, "reboot")
    assert states(vm) == ("rebooting", "running")
    lifecycle.report_vm(session, vm, "rebooting")
    assert states(vm) == ("running", "rebooting")
    lifecycle.report_vm(session, vm, "running")
    lifecycle.request(session, vm, "reinstall")
    lifecycle.report_vm(session, vm, "installing")
    assert states(vm) == ("running", "installing")
    lifecycle.report_vm(session, vm, "crashed")
    # Still requested running: the host is expected to bring it back by itself.
    with pytest.raises(Conflict, match="start is already requested"):
        lifecycle.request(session, vm, "start")
    lifecycle.request(session, vm, "stop")
    assert states(vm) == ("stopped", "crashed")


def test_delete_waits_for_the_host_then_frees_everything(session: Any, vm: Any) -> None:
    net = vm.interfaces[0].ipv4_addresses[0].network
    assert ipam.usage(session, net).assigned == 1
    lifecycle.request(session, vm, "delete")
    with pytest.raises(Conflict, match="being deleted"):
        lifecycle.request(session, vm, "start")
    lifecycle.report_vm(session, vm, "stopped")
    assert vm_by_uuid(session, vm.uuid) is vm  # still there: the host has not deleted it yet
    result = lifecycle.report_vm(session, vm, "deleted")
    assert result["deleted"] is True
    with pytest.raises(NotFound):
        vm_by_uuid(session, vm.uuid)
    assert ipam.usage(session, net).assigned == 0


def test_bad_actions_and_reports(session: Any, vm: Any) -> None:
    with pytest.raises(InvalidInput, match="unknown action 'explode'"):
        lifecycle.request(session, vm, "explode")
    with pytest.raises(InvalidInput, match="unknown vm_state 'flying'"):
        lifecycle.report_vm(session, vm, "flying")
    with pytest.raises(InvalidInput, match="not yet reported"):
        lifecycle.report_vm(session, vm, "pending")
    with pytest.raises(InvalidInput, match="cannot be requested"):
        lifecycle.action_for_state("crashed")
    assert lifecycle.action_for_state("stopped") == "stop"


def test_vm_by_uuid_hides_other_customers(session: Any, vm: Any) -> None:
    assert vm_by_uuid(session, str(vm.uuid), customer_id=9) is vm
    for ref, customer in ((vm.uuid, 10), ("not-a-uuid", None)):
        with pytest.raises(NotFound):
            vm_by_uuid(session, ref, customer_id=customer)


def test_node_heartbeat_and_staleness(session: Any) -> None:
    node = add_hypervisor(session, "hv02").node
    assert lifecycle.is_stale(node, 300) is True  # never reported
    then = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    beat = lifecycle.report_node(session, node.fqdn, "running", {"kernel": "6.1"}, now=then)
    assert beat == lifecycle.Heartbeat(node.id, node.fqdn, "running", "running", then)
    session.refresh(node)
    assert (node.reported_state.name, node.facts, node.last_seen_at) == (
        "running",
        {"kernel": "6.1"},
        then,
    )
    assert node.state.name == "running"
    assert lifecycle.is_stale(node, 300, now=then + timedelta(seconds=299)) is False
    assert lifecycle.is_stale(node, 300, now=then + timedelta(seconds=301)) is True
    # A report does not override the operator's state; by id and in any case it is the same.
    for ref in (str(node.id), " HV02.test.example "):
        beat = lifecycle.report_node(session, ref, "offline", None, now=then)
        assert (beat.state, beat.reported_state) == ("running", "offline")
    session.refresh(node)
    assert node.state.name == "running" and node.facts == {"kernel": "6.1"}
    assert node_by_ref(session, "hv02.test.example") is node
    assert node_by_ref(session, str(node.id)) is node
    assert node_by_ref(session, " HV02.test.example ") is node
    with pytest.raises(NotFound, match="no node 'nope.example'"):
        node_by_ref(session, "nope.example")
    with pytest.raises(NotFound, match="no node with id 99999999999999999999"):
        node_by_ref(session, "99999999999999999999")  # beyond 64 bits: not even bound
    with pytest.raises(InvalidInput, match="unknown node_state"):
        lifecycle.report_node(session, node.fqdn, "exploded")
    for ref in ("nope.example", "99999999999999999999"):
        with pytest.raises(NotFound):
            lifecycle.report_node(session, ref)
