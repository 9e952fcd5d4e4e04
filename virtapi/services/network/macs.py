"""MAC addresses of interfaces: random in the KVM/QEMU prefix 52:54:00, never twice.

52:54:00 is the prefix libvirt and QEMU use for generated MACs; vendors' burnt-in addresses
never carry it. 2**24 values leave collisions rare but possible, so each candidate is checked
under a lock before use, and the unique constraint stays the last line of defence.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import netaddr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ... import values
from ...models import VmInterface
from ..errors import Conflict
from ..locks import advisory_lock
from ..validation import checked

PREFIX = (0x52, 0x54, 0x00)
ATTEMPTS = 16


def random_mac(randbits: Callable[[int], int] = secrets.randbits) -> netaddr.EUI:
    value = (PREFIX[0] << 40) | (PREFIX[1] << 32) | (PREFIX[2] << 24) | randbits(24)
    return netaddr.EUI(value, dialect=netaddr.mac_unix_expanded)


def parse_mac(value: str | netaddr.EUI) -> netaddr.EUI:
    """A unicast MAC given by an operator, in any usual spelling (see values.parse_mac)."""
    return checked(values.parse_mac, value, "mac")


def mac_in_use(session: Session, mac: netaddr.EUI, besides: int | None = None) -> bool:
    """Whether an interface other than ``besides`` (an interface id) has ``mac``."""
    stmt = select(VmInterface.id).where(VmInterface.mac == mac)
    if besides is not None:
        stmt = stmt.where(VmInterface.id != besides)
    return session.scalar(stmt.limit(1)) is not None


def unused_mac(session: Session, randbits: Callable[[int], int] = secrets.randbits) -> netaddr.EUI:
    """A random KVM-style MAC no interface has yet."""
    for _ in range(ATTEMPTS):
        mac = random_mac(randbits)
        if not mac_in_use(session, mac):
            return mac
    raise Conflict("could not find an unused MAC address; retry the request", code="retry")


def assign_mac(
    session: Session,
    interface: VmInterface,
    mac: str | netaddr.EUI | None = None,
    randbits: Callable[[int], int] = secrets.randbits,
) -> netaddr.EUI:
    """Give ``interface`` the MAC asked for (409 if another interface has it) or a fresh one.

    The lock, held until commit, makes check-then-write safe between transactions: a MAC
    another transaction is about to commit is visible to our check once we hold the lock.
    Every MAC written through the services goes through here.
    """
    # The interface may already hang off its owner without a MAC: it must not be flushed yet.
    with session.no_autoflush:
        advisory_lock(session, "vm_interface.mac")
        if mac is None:
            interface.mac = unused_mac(session, randbits)
            return interface.mac
        wanted = parse_mac(mac)
        if mac_in_use(session, wanted, besides=interface.id):
            raise Conflict(
                f"MAC {wanted} is already used by another interface",
                errors={"mac": ["already in use"]},
            )
        interface.mac = wanted
        return wanted
