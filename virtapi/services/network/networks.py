"""IPv4/IPv6 networks: never overlapping, found by id or by an address they contain.

Never handed out of a network: the network address (IPv4 and IPv6: the subnet-router anycast
address), the IPv4 broadcast address (both only for prefixes shorter than /31) and the gateway.
"""

from __future__ import annotations

from typing import Any

import netaddr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ... import values
from ...models import Ipv4Network, Ipv6Network, Ipv6PrefixPool, Vlan
from ...models.network import NETWORK_MODELS
from ..errors import Conflict, InvalidInput, NotFound
from ..locks import advisory_lock
from ..validation import checked
from . import purposes

Network = Ipv4Network | Ipv6Network


def parse_cidr(cidr: str | netaddr.IPNetwork, version: int) -> netaddr.IPNetwork:
    """A strict network in CIDR notation (see values.parse_cidr)."""
    return checked(lambda v: values.parse_cidr(v, version), cidr, "cidr")


def parse_address(value: Any, version: int, field: str = "address") -> netaddr.IPAddress:
    return checked(lambda v: values.parse_ip(v, version), value, field)


def _edge_reserved(net: netaddr.IPNetwork) -> set[int]:
    if net.version == 4:
        return {net.first, net.last} if net.prefixlen < 31 else set()
    return {net.first} if net.prefixlen < 127 else set()


def reserved(network: Network) -> set[int]:
    """Integer addresses of ``network`` that are never handed out."""
    out = _edge_reserved(network.cidr)
    if network.gateway is not None:
        out.add(int(network.gateway))
    return out


def check_gateway(net: netaddr.IPNetwork, gateway: netaddr.IPAddress | None) -> None:
    """A gateway must be a usable host address of its network."""
    if gateway is None:
        return
    if gateway not in net:
        raise InvalidInput(
            f"gateway {gateway} lies outside {net.cidr}",
            errors={"gateway": [f"not inside {net.cidr}"]},
        )
    if int(gateway) in _edge_reserved(net):
        raise InvalidInput(
            f"gateway {gateway} is the network or broadcast address of {net.cidr}",
            errors={"gateway": ["must be a usable host address"]},
        )


def ensure_no_overlap(session: Session, net: netaddr.IPNetwork) -> None:
    """409 naming an existing network (or, for IPv6, routed-prefix pool) ``net`` would overlap.

    The lock is held until commit, so two overlapping networks created at the same time
    cannot both pass this check.
    """
    model = NETWORK_MODELS[net.version]
    advisory_lock(session, f"ipv{net.version}_network")
    first = netaddr.IPAddress(net.first, net.version)
    last = netaddr.IPAddress(net.last, net.version)
    rivals: list[tuple[Any, str, str]] = [(model, f"IPv{net.version} network", "")]
    if net.version == 6:  # routed /64 pools (prefixes.py) share the address space
        rivals.append((Ipv6PrefixPool, "IPv6 prefix pool", "prefix pool "))
    for rival, what, short in rivals:
        clash = session.scalars(
            select(rival)
            .where(rival.network <= last, rival.last_address >= first)
            .order_by(rival.network)
            .limit(1)
        ).first()
        if clash is not None:
            raise Conflict(
                f"{net.cidr} overlaps {what} {clash.cidr} (id {clash.id})",
                errors={"prefix": [f"overlaps {short}{clash.cidr} (id {clash.id})"]},
            )


def create_network(
    session: Session,
    version: int,
    prefix: str | netaddr.IPNetwork,
    *,
    gateway: str | netaddr.IPAddress | None = None,
    vlan_id: int | None = None,
    description: str = "",
    purpose: str | None = None,
) -> Network:
    """Add a network; 409 naming the existing network it would overlap (checked under a lock,
    so two overlapping creations cannot both pass). ``purpose``: a node network's
    (values.PURPOSES), None for a VM network."""
    net = parse_cidr(prefix, version)
    gw = None if gateway in (None, "") else parse_address(gateway, version, "gateway")
    check_gateway(net, gw)
    if vlan_id is not None and session.get(Vlan, vlan_id) is None:
        raise InvalidInput(f"VLAN {vlan_id} does not exist", errors={"vlan_id": ["no such VLAN"]})
    ensure_no_overlap(session, net)
    row = NETWORK_MODELS[version](
        network=netaddr.IPAddress(net.first, version),
        last_address=netaddr.IPAddress(net.last, version),
        prefixlen=net.prefixlen,
        gateway=gw,
        vlan_id=vlan_id,
        description=description,
        purpose=purposes.parse(purpose),
    )
    session.add(row)
    session.flush()
    return row


def update_network(session: Session, network: Network, data: dict[str, Any]) -> None:
    """Change gateway, VLAN (``vlan``, resolved), description or purpose; the prefix is fixed."""
    if "gateway" in data:
        check_gateway(network.cidr, data["gateway"])
    for key, value in data.items():
        if key == "purpose":
            purposes.set_network_purpose(session, network, value)
        else:
            setattr(network, key, value)


def get_network(
    session: Session, version: int, network_id: int, where: str | None = None
) -> Network:
    """The network by id; 404 (naming ``where`` in a request, if given) when there is none."""
    row = session.get(NETWORK_MODELS[version], network_id)
    if row is None:
        prefix = f"{where}: " if where else ""
        raise NotFound(
            f"{prefix}IPv{version} network {network_id} does not exist",
            errors={f"ipv{version}_network_id": ["no such network"]} if where else None,
        )
    return row


def containing_network(
    session: Session, address: netaddr.IPAddress, field: str = "address", where: str | None = None
) -> Network:
    """The network an address belongs to; 422 when no network holds it."""
    model = NETWORK_MODELS[address.version]
    net = session.scalar(
        select(model)
        .where(model.network <= address, model.last_address >= address)
        .order_by(model.prefixlen.desc())
        .limit(1)
    )
    if net is None:
        prefix = f"{where}: " if where else ""
        raise InvalidInput(
            f"{prefix}no IPv{address.version} network contains {address}; create the network first",
            errors={field: ["outside every known network"]},
        )
    return net


def check_in_network(address: netaddr.IPAddress, network: Network) -> None:
    if address not in network.cidr:
        raise InvalidInput(
            f"{address} is not inside network {network.id} ({network.cidr})",
            errors={"address": [f"not inside {network.cidr}"]},
        )
