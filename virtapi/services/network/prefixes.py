"""Routed IPv6 /64s: each VM interface may get its own /64 out of an operator's larger prefix.

A pool (``ipv6_prefix_pool``, e.g. a /48) never overlaps an IPv6 network or another pool
(checked under the same lock as network creation). A routed prefix is one row per /64 handed
out; releasing deletes the row, so the lowest gap is handed out again first. As with
addresses (:mod:`.ipam`), the choice is made under the pool's row lock, held until commit,
so concurrent allocations from one pool queue up; the unique constraints on the prefix and on
the interface stay the last line of defence. The hypervisor routes each /64 to the
interface's bridge (node document: ``ipv6_routes``).
"""

from __future__ import annotations

import netaddr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Ipv6PrefixPool, Ipv6RoutedPrefix, VmInterface
from ..errors import Conflict, InvalidInput
from ..locks import lock_row
from .networks import ensure_no_overlap, parse_cidr

ROUTED_PREFIXLEN = 64
_STEP = 1 << (128 - ROUTED_PREFIXLEN)
CHUNK = 512


def check_pool_prefix(prefix: str | netaddr.IPNetwork) -> netaddr.IPNetwork:
    """A pool's prefix: IPv6, a /64 or larger (the API and the import)."""
    net = parse_cidr(prefix, 6)
    if net.prefixlen > ROUTED_PREFIXLEN:
        raise InvalidInput(
            f"{net.cidr} is smaller than a /{ROUTED_PREFIXLEN}; a pool hands out /64s",
            errors={"prefix": [f"must be /{ROUTED_PREFIXLEN} or larger (shorter prefix length)"]},
        )
    return net


def check_routed_prefix(prefix: str | netaddr.IPNetwork) -> netaddr.IPNetwork:
    """A routed prefix as a document names it: exactly one IPv6 /64."""
    net = parse_cidr(prefix, 6)
    if net.prefixlen != ROUTED_PREFIXLEN:
        raise InvalidInput(
            f"{net.cidr} is not a /{ROUTED_PREFIXLEN}; each interface is routed one /64",
            errors={"routed_prefix": [f"must be a /{ROUTED_PREFIXLEN}"]},
        )
    return net


def create_pool(
    session: Session, prefix: str | netaddr.IPNetwork, description: str = ""
) -> Ipv6PrefixPool:
    """A pool of routed /64s; 422 unless it is a /64 or larger, 409 naming what it overlaps."""
    net = check_pool_prefix(prefix)
    ensure_no_overlap(session, net)
    pool = Ipv6PrefixPool(
        network=netaddr.IPAddress(net.first, 6),
        last_address=netaddr.IPAddress(net.last, 6),
        prefixlen=net.prefixlen,
        description=description,
    )
    session.add(pool)
    session.flush()
    return pool


def _first_free(session: Session, pool: Ipv6PrefixPool) -> int | None:
    """The lowest /64 of ``pool`` without a row, walking the used ones in chunks."""
    expected = int(pool.network)
    last = int(pool.last_address)
    while True:
        rows = session.scalars(
            select(Ipv6RoutedPrefix.prefix)
            .where(
                Ipv6RoutedPrefix.prefix >= netaddr.IPAddress(expected, 6),
                Ipv6RoutedPrefix.prefix <= pool.last_address,
            )
            .order_by(Ipv6RoutedPrefix.prefix)
            .limit(CHUNK)
        ).all()
        for used in rows:
            if int(used) != expected:
                return expected
            expected += _STEP
        if len(rows) < CHUNK:
            break
    return expected if expected <= last else None


def default_pool(session: Session) -> Ipv6PrefixPool:
    pool = session.scalars(select(Ipv6PrefixPool).order_by(Ipv6PrefixPool.id).limit(1)).first()
    if pool is None:
        raise InvalidInput(
            "no IPv6 prefix pool exists; an operator must create one first",
            errors={"pool_id": ["no pool to allocate from"]},
        )
    return pool


def allocate_prefix(
    session: Session, interface: VmInterface, pool: Ipv6PrefixPool | None = None
) -> Ipv6RoutedPrefix:
    """Route the next free /64 of ``pool`` (default: the first pool) to a VM interface."""
    if interface.vm_id is None:
        raise InvalidInput(
            "only VM interfaces get routed /64s", errors={"vm_interface_id": ["not a VM's"]}
        )
    pool = pool or default_pool(session)
    lock_row(session, Ipv6PrefixPool, pool.id)
    held = session.scalar(
        select(Ipv6RoutedPrefix.prefix).where(Ipv6RoutedPrefix.vm_interface_id == interface.id)
    )
    if held is not None:
        raise Conflict(
            f"interface {interface.id} already has the routed prefix {held}/64",
            errors={"vm_interface_id": ["already has a routed /64"]},
        )
    found = _first_free(session, pool)
    if found is None:
        raise Conflict(
            f"IPv6 prefix pool {pool.cidr} (id {pool.id}) has no free /64 left",
            code="exhausted",
        )
    row = Ipv6RoutedPrefix(
        prefix=netaddr.IPAddress(found, 6), pool_id=pool.id, vm_interface_id=interface.id
    )
    session.add(row)
    session.flush()
    return row


def release_prefix(session: Session, row: Ipv6RoutedPrefix) -> None:
    """Free a /64; the lowest free one is handed out next."""
    session.delete(row)
    session.flush()


def release_interface(session: Session, interface: VmInterface) -> int:
    """Free the interface's routed /64, if any (row by row, so the change log records it)."""
    rows = session.scalars(
        select(Ipv6RoutedPrefix).where(Ipv6RoutedPrefix.vm_interface_id == interface.id)
    ).all()
    for row in rows:
        session.delete(row)
    return len(rows)
