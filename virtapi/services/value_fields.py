"""Marshmallow fields that wrap the parsers of ``virtapi.values``: no parsing of their own.

The REST schemas (``api/fields.py``) and the import document schema both build on these, so
both accept the same values and load the same normal form. Each field publishes what its
parser enforces (type, format, pattern, bounds) for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import netaddr
from marshmallow import ValidationError, fields

from .. import values

# The key under which a field states a rule JSON Schema cannot express (the object it names
# must exist, an address must lie in its network, host bits must be zero …). api/__init__
# gathers them per operation into ``x-virtapi-refusals`` and the 422 description; the fuzz
# test tolerates exactly those refusals of schema-valid requests.
RULE = "x-virtapi-rule"


class Parsed(fields.Field):
    """A value loaded through ``parser`` (an InvalidValue becomes a ValidationError) and dumped
    through ``dump`` (default ``str``)."""

    def __init__(
        self,
        parser: Callable[[Any], Any],
        dump: Callable[[Any], Any] = str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.parser = parser
        self.dump = dump
        self.metadata.setdefault("type", "string")
        # The parser's own spelling, published: a field built on a values parser states what
        # it accepts without anyone writing the pattern again.
        if (pattern := values.PATTERNS.get(parser)) is not None:
            self.metadata.setdefault("pattern", pattern)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else self.dump(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return self.parser(value)
        except values.InvalidValue as exc:
            raise ValidationError(str(exc)) from None


class ParsedInt(fields.Integer):
    """A JSON integer checked by ``parser``; ``minimum``/``maximum`` are published for OpenAPI."""

    def __init__(
        self, parser: Callable[[Any], int], minimum: int, maximum: int, **kwargs: Any
    ) -> None:
        super().__init__(strict=True, **kwargs)
        self.parser = parser
        self.metadata.setdefault("minimum", minimum)
        self.metadata.setdefault("maximum", maximum)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        number = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self.parser(number)
        except values.InvalidValue as exc:
            raise ValidationError(str(exc)) from None


def mac(**kwargs: Any) -> Parsed:
    """An interface MAC in a usual spelling, loaded as ``netaddr.EUI`` (aa:bb:cc:dd:ee:ff)."""
    kwargs.setdefault("metadata", {}).setdefault("example", "52:54:00:12:34:56")
    return Parsed(values.parse_mac, values.mac_text, **kwargs)


def ip(version: int | None = None, **kwargs: Any) -> Parsed:
    """An IP address (of ``version`` if given), loaded as ``netaddr.IPAddress``."""
    meta = kwargs.setdefault("metadata", {})
    if version:
        meta.setdefault("format", f"ipv{version}")
    else:
        meta.setdefault("anyOf", [{"format": "ipv4"}, {"format": "ipv6"}])
    return Parsed(
        lambda v: values.parse_ip(v, version), lambda v: str(netaddr.IPAddress(v)), **kwargs
    )


def cidr(version: int | None = None, **kwargs: Any) -> Parsed:
    """A network prefix in CIDR notation, host bits zero, loaded as ``netaddr.IPNetwork``."""
    example = "2001:db8::/64" if version == 6 else "192.0.2.0/24"
    meta = kwargs.setdefault("metadata", {})
    meta.setdefault("example", example)
    meta.setdefault(RULE, f"a prefix in CIDR notation with its host bits zero ({example})")
    return Parsed(lambda v: values.parse_cidr(v, version), **kwargs)


def hostname(**kwargs: Any) -> Parsed:
    """A lower-case RFC 1123 hostname or FQDN: it becomes a certname, a minion id, a file name."""
    meta = kwargs.setdefault("metadata", {})
    meta.setdefault("example", "web1.example.net")
    meta.setdefault("maxLength", values.HOSTNAME_MAX)
    return Parsed(values.parse_hostname, **kwargs)


def name(**kwargs: Any) -> Parsed:
    """A short name (pool, VLAN, state, area): letters, digits, '.', '_', '-', at most 64."""
    meta = kwargs.setdefault("metadata", {})
    meta.setdefault("maxLength", values.NAME_MAX)
    return Parsed(values.parse_name, **kwargs)


def vni(**kwargs: Any) -> ParsedInt:
    return ParsedInt(values.parse_vni, 1, values.MAX_VNI, **kwargs)


def size(**kwargs: Any) -> ParsedInt:
    """Bytes (RAM, disk): positive, 64-bit."""
    kwargs.setdefault("metadata", {}).setdefault("description", "bytes")
    return ParsedInt(values.parse_size, values.MIN_SIZE, values.MAX_SIZE, **kwargs)


def snapshot_name(**kwargs: Any) -> Parsed:
    """A snapshot's name: a-z, 0-9, '_', '-', at most 64 (part of LV/RBD/qcow2 names)."""
    meta = kwargs.setdefault("metadata", {})
    meta.setdefault("maxLength", values.SNAPSHOT_NAME_MAX)
    return Parsed(values.parse_snapshot_name, **kwargs)


def uuid(**kwargs: Any) -> Parsed:
    """A UUID (Ceph fsid, libvirt secret uuid)."""
    kwargs.setdefault("metadata", {}).setdefault("format", "uuid")
    return Parsed(values.parse_uuid, **kwargs)


def ceph_client_name(**kwargs: Any) -> Parsed:
    """A Ceph user: ``client.libvirt`` (the ``client.`` prefix optional, always stored)."""
    meta = kwargs.setdefault("metadata", {})
    meta.setdefault("example", "client.libvirt")
    return Parsed(values.parse_ceph_client_name, **kwargs)


def cephx_key(**kwargs: Any) -> Parsed:
    """A cephx secret as ``ceph auth get-key`` prints it."""
    meta = kwargs.setdefault("metadata", {})
    meta.setdefault("writeOnly", True)
    return Parsed(values.parse_cephx_key, **kwargs)


def purpose(**kwargs: Any) -> Parsed:
    """A node network purpose (management, storage, backup, underlay); OpenAPI lists the enum."""
    # OpenAPI 3.0: a nullable enum lists null among its values.
    enum = [*values.PURPOSES, None] if kwargs.get("allow_none") else list(values.PURPOSES)
    kwargs.setdefault("metadata", {}).setdefault("enum", enum)
    return Parsed(values.parse_purpose, **kwargs)
