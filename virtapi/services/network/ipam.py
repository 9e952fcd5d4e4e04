"""IP address management: addresses handed out exactly once, never the reserved ones.

Addresses are rows of ``ipv4``/``ipv6``; a row whose interface is NULL is free again (that is
what releasing leaves behind) and is reused before new rows are made. Free addresses are found
by walking the used ones in address order, in chunks, through the unique index on ``address``,
so a /16 is never loaded into memory and a mostly empty /64 costs one short query.

IPv6 addresses are allocated sequentially from the network address + 1, like IPv4, so they are
short, predictable and independent of the MAC (which an operator may change). Every address
row is written under its network's row lock (:func:`allocate`, :func:`add_address`), so
concurrent writers of one network queue up instead of taking the same address.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import netaddr
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from ...models import Ipv4Address, Ipv6Address, VmInterface
from ...models.network import ADDRESS_MODELS
from ..errors import Conflict, InvalidInput
from ..locks import lock_row
from . import purposes
from .networks import Network, check_in_network, parse_address, reserved

Address = Ipv4Address | Ipv6Address
CHUNK = 512


def _first_untaken(session: Session, network: Network, low: int) -> int:
    """The lowest address >= ``low`` that can be handed out (last + 1 if none).

    Either the lowest released row (rare; one indexed query) or the lowest address with no row
    at all, found by bisection over range counts on the unique address index: about
    log2(size) COUNT queries that read no table rows, instead of walking a long run of
    assigned addresses.
    """
    version = network.ip_version
    model = ADDRESS_MODELS[version]
    high = int(network.last_address)
    skip = reserved(network)
    ip = lambda value: netaddr.IPAddress(value, version)  # noqa: E731
    # ORDER BY … LIMIT 1, not min(): PostgreSQL has no min() for bytea.
    released = session.scalar(
        select(model.address)
        .where(
            model.address >= ip(low),
            model.address <= network.last_address,
            model.vm_interface_id.is_(None),
            model.address.not_in([ip(r) for r in skip]),
        )
        .order_by(model.address)
        .limit(1)
    )
    if released is not None:
        high = int(released) - 1  # a gap, if any, must lie below it to win
    with_rows = set(
        int(a)
        for a in session.scalars(
            select(model.address).where(model.address.in_([ip(r) for r in skip]))
        )
    )
    bare_reserved = skip - with_rows

    def occupied(a: int, b: int) -> int:
        rows = session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.address >= ip(a), model.address <= ip(b))
        )
        return int(rows or 0) + sum(1 for r in bare_reserved if a <= r <= b)

    if low > high or occupied(low, high) == high - low + 1:
        return int(released) if released is not None else int(network.last_address) + 1
    while low < high:
        mid = (low + high) // 2
        if occupied(low, mid) == mid - low + 1:
            low = mid + 1
        else:
            high = mid
    return low


def _free(session: Session, network: Network) -> Iterator[tuple[int, Address | None]]:
    """Free addresses of ``network`` in ascending order: (address, reusable row or None).

    Walks the rows in address order one chunk at a time; a chunk without any free address
    (a long run of assigned ones) is skipped by bisection (:func:`_first_untaken`).
    """
    version = network.ip_version
    model = ADDRESS_MODELS[version]
    skip = reserved(network)
    last = int(network.last_address)
    expected = int(network.network)
    while True:
        found = False
        # Columns, not entities: the database's values, never a stale copy in the session.
        rows = session.execute(
            select(model.id, model.address, model.vm_interface_id)
            .where(
                model.address >= netaddr.IPAddress(expected, version),
                model.address <= network.last_address,
            )
            .order_by(model.address)
            .limit(CHUNK)
        ).all()
        for row_id, address, interface_id in rows:
            value = int(address)
            while expected < value:
                if expected not in skip:
                    found = True
                    yield expected, None
                expected += 1
            if value not in skip and interface_id is None:
                found = True
                yield value, session.get(model, row_id)
            expected = value + 1
        if len(rows) < CHUNK:
            break
        if not found:
            expected = _first_untaken(session, network, expected)
    while expected <= last:
        if expected not in skip:
            yield expected, None
        expected += 1


@dataclass(frozen=True)
class Usage:
    size: int
    reserved: int
    assigned: int
    free: int

    def as_dict(self) -> dict[str, int]:
        return {
            "size": self.size,
            "reserved": self.reserved,
            "assigned": self.assigned,
            "free": self.free,
        }


def usage(session: Session, network: Network) -> Usage:
    """How many addresses the network has, keeps back, has handed out and has left."""
    model = ADDRESS_MODELS[network.ip_version]
    assigned = session.scalar(
        select(func.count())
        .select_from(model)
        .where(
            model.address >= network.network,
            model.address <= network.last_address,
            model.vm_interface_id.is_not(None),
        )
    )
    size = network.cidr.size
    kept = len(reserved(network))
    return Usage(size=size, reserved=kept, assigned=int(assigned or 0), free=size - kept - assigned)


def available(session: Session, network: Network, n: int = 10) -> list[netaddr.IPAddress]:
    """The next ``n`` addresses an allocation would hand out, in order."""
    version = network.ip_version
    out = []
    for value, _row in _free(session, network):
        if len(out) >= n:
            break
        out.append(netaddr.IPAddress(value, version))
    return out


def _holder(interface: VmInterface | None) -> str:
    if interface is None:
        return "an interface"
    if interface.vm is not None:
        return f"interface {interface.id} of VM {interface.vm.hostname}"
    if interface.node is not None:
        return f"interface {interface.node_ifname or interface.id} of node {interface.node.fqdn}"
    return f"interface {interface.id}"


def allocate(
    session: Session,
    network: Network,
    interface: VmInterface,
    address: str | netaddr.IPAddress | None = None,
) -> Address:
    """Give ``interface`` the next free address of ``network``, or the requested one.

    The network row stays locked until the transaction ends, so concurrent allocations from
    the same network queue up instead of picking the same address.
    """
    version = network.ip_version
    model = ADDRESS_MODELS[version]
    purposes.check_address(network, interface)
    lock_row(session, type(network), network.id)
    if address is not None:
        wanted = parse_address(address, version)
        if wanted not in network.cidr:
            raise InvalidInput(
                f"{wanted} is not inside IPv{version} network {network.cidr}",
                errors={"address": [f"not inside {network.cidr}"]},
            )
        if int(wanted) in reserved(network):
            what = "the gateway" if wanted == network.gateway else "reserved"
            raise Conflict(
                f"{wanted} is {what} in {network.cidr} and is never assigned",
                errors={"address": ["reserved"]},
            )
        row = session.scalars(
            select(model).where(model.address == wanted).execution_options(populate_existing=True)
        ).one_or_none()
        if row is not None and row.vm_interface_id is not None:
            raise Conflict(
                f"{wanted} is already assigned to {_holder(row.interface)}",
                errors={"address": ["already assigned"]},
            )
    else:
        found = next(_free(session, network), None)
        if found is None:
            used = usage(session, network)
            raise Conflict(
                f"IPv{version} network {network.cidr} (id {network.id}) has no free address "
                f"left ({used.assigned} of {used.size - used.reserved} assigned)",
                code="exhausted",
            )
        wanted = netaddr.IPAddress(found[0], version)
        row = found[1]
    if row is None:
        row = model(address=wanted, network_id=network.id)
        session.add(row)
    _assign(row, interface)
    session.flush()
    return row


def add_address(session: Session, network: Network, address: netaddr.IPAddress) -> Address:
    """Register ``address`` of ``network`` as a free row (409 if it is registered already),
    under the same network row lock as :func:`allocate`."""
    check_in_network(address, network)
    model = ADDRESS_MODELS[network.ip_version]
    lock_row(session, type(network), network.id)
    if session.scalar(select(model.id).where(model.address == address)) is not None:
        raise Conflict(
            f"{address} is already registered in {network.cidr}",
            errors={"address": ["already in use"]},
        )
    row = model(address=address, network=network, interface=None)
    session.add(row)
    session.flush()
    return row


def _assign(row: Address, interface: VmInterface) -> None:
    collection = f"ipv{row.ip_version}_addresses"
    if interface.id is not None and collection in inspect(interface).unloaded:
        # Through the foreign key: the backref would load all the interface's addresses.
        row.vm_interface_id = interface.id
        if inspect(row).persistent:
            session = inspect(row).session
            if session is not None:
                session.expire(row, ["interface"])
    else:
        row.interface = interface


def reassign(session: Session, row: Address, interface: VmInterface) -> None:
    """Hand an address row to ``interface`` (an operator moving it); purposes must agree."""
    purposes.check_address(row.network, interface)
    row.interface = interface


def release(session: Session, row: Address) -> None:
    """Free one address; the row stays, unassigned, and is handed out again first."""
    row.interface = None
    session.flush()


def release_interface(session: Session, interface: VmInterface) -> int:
    """Free every address of an interface; how many were freed."""
    rows = [*interface.ipv4_addresses, *interface.ipv6_addresses]
    for row in rows:
        row.interface = None
    session.flush()
    return len(rows)
