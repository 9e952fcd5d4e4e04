"""Marshmallow fields that refuse what the database would choke on.

Every integer is range-checked for its column width and every string for its length and NUL
characters, so out-of-range input answers 422 naming the field instead of a database error.
Addresses and MACs accept any usual spelling and are returned normalised.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import netaddr
from marshmallow import Schema, ValidationError, fields, missing, validate

from ..models.types import normalise_mac
from ..services.validation import hostname_problem, name_problem, text_problem

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


def _printable(value: str) -> None:
    problem = text_problem(value, multiline=True)
    if problem:
        raise ValidationError(problem)


def _one_line(value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise ValidationError(problem)


def string(max_length: int | None = None, **kwargs: Any) -> fields.String:
    """A string of at most ``max_length`` characters (None: unbounded text).

    Bounded strings are single lines unless ``multiline=True``; no string may hold control
    characters other than tab and line breaks.
    """
    checks: list[Any] = [_no_nul, _printable]
    if not kwargs.pop("multiline", max_length is None):
        checks.append(_one_line)
    if max_length is not None:
        checks.append(validate.Length(max=max_length))
    if kwargs.pop("non_empty", False):
        checks.append(validate.Length(min=1))
    return fields.String(validate=checks, **kwargs)


def _checked(problem: Any) -> Any:
    def check(value: str) -> None:
        message = problem(value)
        if message:
            raise ValidationError(message)

    return check


def hostname_field(**kwargs: Any) -> fields.String:
    """A lower-case RFC 1123 hostname or FQDN: it becomes a certname, a minion id, a file name."""
    kwargs.setdefault("metadata", {}).setdefault("example", "web1.example.net")
    return fields.String(validate=[_no_nul, _checked(hostname_problem)], **kwargs)


def name_field(max_length: int = 64, **kwargs: Any) -> fields.String:
    """A short name (pool, VLAN, state, area): letters, digits, '.', '_', '-', at most 64."""
    checks = [_no_nul, _checked(name_problem), validate.Length(max=max_length)]
    return fields.String(validate=checks, **kwargs)


def int32(minimum: int = -(2**31), maximum: int = INT32_MAX, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


def int64(minimum: int = -(2**63), maximum: int = INT64_MAX, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(minimum, maximum), **kwargs)


def ref_id(**kwargs: Any) -> fields.Integer:
    """The id of a related object."""
    return int64(1, **kwargs)


def query_int(minimum: int = 1, maximum: int = INT64_MAX, **kwargs: Any) -> fields.Integer:
    """An integer in a query string (which has no JSON types, hence not strict)."""
    return fields.Integer(validate=validate.Range(minimum, maximum), **kwargs)


class IPAddress(fields.Field):
    """An IPv4 or IPv6 address as text; any spelling netaddr understands, returned compressed."""

    def __init__(self, version: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("format", f"ipv{version}")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(netaddr.IPAddress(value))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return parse_ip(value, self.version)


def parse_ip(value: Any, version: int) -> netaddr.IPAddress:
    if not isinstance(value, str) or "\x00" in value or "/" in value:
        raise ValidationError(f"not an IPv{version} address")
    try:
        # INET_PTON: only the standard notations, not '10.1' or '010.0.0.1' surprises.
        address = netaddr.IPAddress(value.strip(), version, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(f"{value!r} is not an IPv{version} address") from None
    return address


class MACAddress(fields.Field):
    """A 48-bit MAC in any usual spelling (colons, dashes, dots, bare), returned as aa:bb:…"""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("example", "52:54:00:12:34:56")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else normalise_mac(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return parse_mac(value)


# The usual spellings only: netaddr alone also takes '1' or '52-54-00-00-00-0' as a MAC.
_MAC_SPELLINGS = re.compile(
    r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
    r"|[0-9A-Fa-f]{12}"
)


def parse_mac(value: Any) -> netaddr.EUI:
    if not isinstance(value, str) or "\x00" in value or len(value) > 32:
        raise ValidationError("not a MAC address")
    if not _MAC_SPELLINGS.fullmatch(value.strip()):
        raise ValidationError(
            f"{value!r} is not a 48-bit MAC address; write it as 52:54:00:12:34:56, "
            "52-54-00-12-34-56, 5254.0012.3456 or 525400123456"
        )
    try:
        mac = netaddr.EUI(normalise_mac(value.strip()))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(f"{value!r} is not a 48-bit MAC address") from None
    if mac.words[0] & 1:
        # Broadcast and multicast addresses cannot belong to a network interface.
        raise ValidationError(f"{mac} is a multicast address; an interface needs a unicast one")
    return mac


class Network(fields.Field):
    """A network prefix as CIDR text (192.0.2.0/24); host bits must be zero."""

    def __init__(self, version: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("example", "192.0.2.0/24" if version == 4 else "2001:db8::/64")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        return parse_network(value, self.version)


def parse_network(value: Any, version: int) -> netaddr.IPNetwork:
    if not isinstance(value, str) or "\x00" in value or "/" not in value:
        raise ValidationError(f"give an IPv{version} prefix in CIDR notation, e.g. 192.0.2.0/24")
    address, _, length = value.strip().partition("/")
    maxlen = 32 if version == 4 else 128
    if not length.isdigit() or not 0 <= int(length) <= maxlen:
        raise ValidationError(f"prefix length must be 0 to {maxlen}")
    net = netaddr.IPNetwork(f"{parse_ip(address, version)}/{int(length)}")
    if net.ip != net.network:
        raise ValidationError(
            f"{value} has host bits set; did you mean {net.network}/{net.prefixlen}?"
        )
    return net


class NameOrId(fields.Field):
    """A vocabulary entry (state, method, storage type …) by name or by id."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metadata.setdefault("oneOf", [{"type": "string"}, {"type": "integer"}])

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError("give a name or an id")
        if isinstance(value, int) and not 0 < value <= INT64_MAX:
            raise ValidationError("not a valid id")
        if isinstance(value, str) and ("\x00" in value or not value or len(value) > 128):
            raise ValidationError("not a valid name")
        return value


def updating(create: type[Schema]) -> type[Schema]:
    """The PATCH schema of a create schema: the same fields, none required, no defaults."""
    copies: dict[str, fields.Field] = {}
    for key, original in create._declared_fields.items():
        if original.dump_only:
            continue
        f = copy.copy(original)
        f.required = False
        f.load_default = missing
        copies[key] = f
    name = create.__name__.replace("Create", "").removesuffix("Schema") + "UpdateSchema"
    return Schema.from_dict(copies, name=name)
