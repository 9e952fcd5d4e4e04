"""IPAM: networks never overlap, addresses are handed out once and never the reserved ones."""

from __future__ import annotations

from typing import Any

import netaddr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from tests.support.fleet import node_interface
from tests.support.queries import statements_sent
from virtapi.models import Ipv4Address, Ipv4Network, Vlan
from virtapi.services.errors import Conflict, InvalidInput
from virtapi.services.network import ipam, networks


def addresses(rows: list[Any]) -> list[str]:
    return [str(r.address) for r in rows]


def test_create_network_stores_range_and_refuses_overlap(session: Any) -> None:
    net = networks.create_network(session, 4, "10.1.0.0/24", gateway="10.1.0.1", description="a")
    assert (str(net.network), str(net.last_address), net.prefixlen) == (
        "10.1.0.0",
        "10.1.0.255",
        24,
    )
    for clash in ("10.1.0.0/24", "10.1.0.128/25", "10.0.0.0/15", "10.1.0.255/32"):
        with pytest.raises(Conflict, match=r"overlaps IPv4 network 10\.1\.0\.0/24 \(id \d+\)"):
            networks.create_network(session, 4, clash)
    networks.create_network(session, 4, "10.1.1.0/24")  # adjacent is fine
    v6 = networks.create_network(session, 6, "2001:db8::/64", gateway="2001:db8::1")
    with pytest.raises(Conflict, match="2001:db8::/64"):
        networks.create_network(session, 6, "2001:db8::/48")
    networks.create_network(session, 6, "2001:db8:0:1::/64")
    assert v6.cidr == netaddr.IPNetwork("2001:db8::/64")


@pytest.mark.parametrize(
    ("version", "cidr", "gateway", "message"),
    [
        (4, "10.0.0.5/24", None, "host bits set; did you mean 10.0.0.0/24"),
        (4, "10.0.0.0", None, "in CIDR notation"),
        (4, "not-a-net/24", None, "not an IPv4 address"),
        (4, "2001:db8::/64", None, "not an IPv4 address"),
        (4, "10.0.0.0/24", "10.0.1.1", "outside 10.0.0.0/24"),
        (4, "10.0.0.0/24", "10.0.0.255", "network or broadcast"),
        (6, "2001:db8::/64", "2001:db8:1::1", "outside"),
        (6, "2001:db8::/64", "2001:db8::", "network or broadcast"),
    ],
)
def test_create_network_rejects_bad_input(
    session: Any, version: int, cidr: str, gateway: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        networks.create_network(session, version, cidr, gateway=gateway)


def test_network_vlan_must_exist(session: Any) -> None:
    with pytest.raises(InvalidInput, match="VLAN 99 does not exist"):
        networks.create_network(session, 4, "10.0.0.0/24", vlan_id=99)
    vlan = Vlan(vni=5000, name="v")
    session.add(vlan)
    session.flush()
    assert networks.create_network(session, 4, "10.0.0.0/24", vlan_id=vlan.id).vlan is vlan


def test_allocate_skips_network_gateway_broadcast_and_exhausts(session: Any) -> None:
    iface = node_interface(session)
    net = networks.create_network(session, 4, "192.0.2.0/29", gateway="192.0.2.3")
    got = [ipam.allocate(session, net, iface) for _ in range(5)]
    assert addresses(got) == ["192.0.2.1", "192.0.2.2", "192.0.2.4", "192.0.2.5", "192.0.2.6"]
    assert ipam.usage(session, net).as_dict() == {
        "size": 8,
        "reserved": 3,
        "assigned": 5,
        "free": 0,
    }
    with pytest.raises(Conflict, match=r"no free address left \(5 of 5 assigned\)") as exc:
        ipam.allocate(session, net, iface)
    assert exc.value.code == "exhausted"
    assert ipam.available(session, net, 10) == []


def test_point_to_point_and_host_networks_use_every_address(session: Any) -> None:
    iface = node_interface(session)
    p2p = networks.create_network(session, 4, "192.0.2.0/31")
    host = networks.create_network(session, 4, "192.0.2.9/32")
    assert addresses([ipam.allocate(session, p2p, iface) for _ in range(2)]) == [
        "192.0.2.0",
        "192.0.2.1",
    ]
    assert addresses([ipam.allocate(session, host, iface)]) == ["192.0.2.9"]


def test_requested_address_must_be_inside_free_and_not_reserved(session: Any) -> None:
    iface = node_interface(session)
    other = node_interface(session, "infra02", "0c:c4:7a:00:00:02")
    net = networks.create_network(session, 4, "10.9.0.0/24", gateway="10.9.0.1")
    assert str(ipam.allocate(session, net, iface, "10.9.0.50").address) == "10.9.0.50"
    with pytest.raises(Conflict, match="10.9.0.50 is already assigned to interface eno1 of node"):
        ipam.allocate(session, net, other, "10.9.0.50")
    with pytest.raises(InvalidInput, match="not inside IPv4 network 10.9.0.0/24"):
        ipam.allocate(session, net, other, "10.9.1.5")
    for reserved in ("10.9.0.0", "10.9.0.1", "10.9.0.255"):
        with pytest.raises(Conflict, match="never assigned"):
            ipam.allocate(session, net, other, reserved)
    with pytest.raises(InvalidInput, match="not an IPv4 address"):
        ipam.allocate(session, net, other, "10.9.0.300")
    # The next free one goes around the requested one.
    assert str(ipam.allocate(session, net, other).address) == "10.9.0.2"


def test_release_frees_and_lowest_free_is_reused(session: Any) -> None:
    iface = node_interface(session)
    net = networks.create_network(session, 4, "10.7.0.0/28", gateway="10.7.0.1")
    rows = [ipam.allocate(session, net, iface) for _ in range(4)]  # .2 .3 .4 .5
    ipam.release(session, rows[1])
    assert ipam.usage(session, net).assigned == 3
    assert [str(a) for a in ipam.available(session, net, 3)] == ["10.7.0.3", "10.7.0.6", "10.7.0.7"]
    again = ipam.allocate(session, net, iface)
    assert again.id == rows[1].id and str(again.address) == "10.7.0.3"
    # A freed row may also be requested explicitly.
    ipam.release(session, rows[2])
    assert ipam.allocate(session, net, iface, "10.7.0.4").id == rows[2].id
    assert ipam.release_interface(session, iface) == 4
    assert ipam.usage(session, net).assigned == 0


def test_ipv6_is_sequential_from_network_start(session: Any) -> None:
    iface = node_interface(session)
    net = networks.create_network(session, 6, "2001:db8:5::/64", gateway="2001:db8:5::1")
    got = [ipam.allocate(session, net, iface) for _ in range(3)]
    assert addresses(got) == ["2001:db8:5::2", "2001:db8:5::3", "2001:db8:5::4"]
    use = ipam.usage(session, net)
    assert (use.size, use.reserved, use.assigned, use.free) == (2**64, 2, 3, 2**64 - 5)
    assert str(ipam.available(session, net, 1)[0]) == "2001:db8:5::5"


def test_scan_crosses_chunk_boundaries(session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipam, "CHUNK", 3)
    iface = node_interface(session)
    net = networks.create_network(session, 4, "10.3.0.0/27", gateway="10.3.0.1")
    rows = [ipam.allocate(session, net, iface) for _ in range(20)]
    assert addresses(rows) == [f"10.3.0.{i}" for i in range(2, 22)]
    ipam.release(session, rows[13])
    assert str(ipam.allocate(session, net, iface).address) == "10.3.0.15"


def test_allocation_in_a_big_network_costs_few_queries(session: Any, database: Any) -> None:
    """A /16 with 2,000 addresses taken: no walk over the run of assigned addresses."""
    iface = node_interface(session)
    net = networks.create_network(session, 4, "10.50.0.0/16", gateway="10.50.0.1")
    session.execute(
        insert(Ipv4Address),
        [
            {
                "address": netaddr.IPAddress(int(net.network) + i),
                "network_id": net.id,
                "vm_interface_id": iface.id,
            }
            for i in range(2, 2002)
        ],
    )
    with statements_sent(database.engine) as statements:
        row = ipam.allocate(session, net, iface)
    assert str(row.address) == "10.50.7.210"  # 10.50.0.0 + 2002
    # One chunk of rows, then a bisection of COUNT queries (log2 of 2**16), then the insert.
    assert len(statements) <= 30, statements
    assert sum("count(" in q.lower() for q in statements) <= 17
    # A released address deep inside the run is found, and wins over the gap after the run.
    ipam.release(
        session,
        session.scalars(
            select(Ipv4Address).where(Ipv4Address.address == netaddr.IPAddress("10.50.3.100"))
        ).one(),
    )
    assert str(ipam.allocate(session, net, iface).address) == "10.50.3.100"
    assert [str(a) for a in ipam.available(session, net, 2)] == ["10.50.7.211", "10.50.7.212"]


# --- properties -----------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("next"), st.just(0)),
        st.tuples(st.just("want"), st.integers(min_value=-2, max_value=70)),
        st.tuples(st.just("free"), st.integers(min_value=0, max_value=1000)),
    ),
    max_size=40,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prefixlen=st.integers(min_value=26, max_value=32),
    gateway_offset=st.one_of(st.none(), st.integers(min_value=0, max_value=63)),
    steps=ops,
)
def test_allocations_stay_inside_unique_and_unreserved(
    session: Any,
    monkeypatch: pytest.MonkeyPatch,
    prefixlen: int,
    gateway_offset: int | None,
    steps: list[tuple[str, int]],
) -> None:
    # Tiny chunks, so runs of assigned addresses are skipped by bisection, not walked.
    monkeypatch.setattr(ipam, "CHUNK", 4)
    try:
        cidr = netaddr.IPNetwork(f"172.16.0.0/{prefixlen}")
        usable = list(cidr) if prefixlen >= 31 else list(cidr)[1:-1]
        gateway = None
        if gateway_offset is not None and usable:
            gateway = usable[gateway_offset % len(usable)]
        iface = node_interface(session)
        net = networks.create_network(
            session, 4, str(cidr), gateway=str(gateway) if gateway else None
        )
        forbidden = set(cidr) - set(usable) | ({gateway} if gateway else set())
        held: dict[netaddr.IPAddress, Any] = {}
        for op, arg in steps:
            if op == "next":
                try:
                    row = ipam.allocate(session, net, iface)
                except Conflict:
                    assert len(held) == len(usable) - (1 if gateway else 0)
                    continue
            elif op == "want":
                wanted = netaddr.IPAddress(int(cidr.network) + arg)
                try:
                    row = ipam.allocate(session, net, iface, wanted)
                except (Conflict, InvalidInput):
                    assert wanted in held or wanted in forbidden or wanted not in cidr
                    continue
                assert row.address == wanted
            else:
                if held:
                    victim = sorted(held)[arg % len(held)]
                    ipam.release(session, held.pop(victim))
                continue
            assert row.address in cidr
            assert row.address not in forbidden
            assert row.address not in held
            held[row.address] = row
        assert ipam.usage(session, net).assigned == len(held)
        expected_next = [a for a in cidr if a not in forbidden and a not in held][:3]
        assert ipam.available(session, net, 3) == expected_next
    finally:
        session.rollback()


def test_network_rows_are_addressable_by_model(session: Any) -> None:
    net = networks.create_network(session, 4, "10.4.0.0/24")
    assert networks.get_network(session, 4, net.id) is session.get(Ipv4Network, net.id)
