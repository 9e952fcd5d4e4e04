"""Column types that keep addresses comparable in SQL on PostgreSQL and SQLite alike.

Addresses are stored as fixed-width big-endian bytes (4 for IPv4, 16 for IPv6): both databases
compare BLOB/bytea bytewise, so ORDER BY, BETWEEN and range overlap work in SQL. netaddr converts
at the edges, so Python code only ever sees ``netaddr.IPAddress`` and ``netaddr.EUI``.
"""

from __future__ import annotations

from typing import Any

import netaddr
from sqlalchemy import LargeBinary, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ..values import mac_text

_WIDTH = {4: 4, 6: 16}


def ip_to_bytes(value: netaddr.IPAddress | str | int, version: int) -> bytes:
    """Fixed-width big-endian bytes of an address of the given IP version."""
    address = value if isinstance(value, netaddr.IPAddress) else netaddr.IPAddress(value, version)
    if address.version != version:
        raise ValueError(f"{address} is not an IPv{version} address")
    return int(address).to_bytes(_WIDTH[version], "big")


def bytes_to_ip(raw: bytes, version: int) -> netaddr.IPAddress:
    return netaddr.IPAddress(int.from_bytes(raw, "big"), version)


class IPAddressType(TypeDecorator[netaddr.IPAddress]):
    """An IPv4 or IPv6 address as fixed-width bytes."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, version: int) -> None:
        super().__init__(length=_WIDTH[version])
        self.version = version

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return ip_to_bytes(value, self.version)

    def process_result_value(self, value: Any, dialect: Dialect) -> netaddr.IPAddress | None:
        if value is None:
            return None
        return bytes_to_ip(bytes(value), self.version)


class MACAddressType(TypeDecorator[netaddr.EUI]):
    """A MAC address in lower-case colon notation, so the unique key means what it says."""

    impl = String(17)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return normalise_mac(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> netaddr.EUI | None:
        if value is None:
            return None
        return netaddr.EUI(value, dialect=netaddr.mac_unix_expanded)


def normalise_mac(value: netaddr.EUI | str) -> str:
    """Any usual spelling (colons, dashes, dots, bare, any case) as ``aa:bb:cc:dd:ee:ff``."""
    return mac_text(value)
