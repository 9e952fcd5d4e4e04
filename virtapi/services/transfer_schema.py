"""The shape of an inventory document (``virtapi export`` / ``virtapi import``), version 1.

Only natural keys appear: fqdn, hostname, uuid, CIDR, VNI, MAC, pool and vocabulary names.
The schemas check each entry on its own; references between entries are checked by
``transfer.import_inventory`` once the whole document has loaded.
"""

from __future__ import annotations

from typing import Any

import netaddr
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ..models.network import MAX_VNI
from ..models.types import normalise_mac
from .validation import hostname_problem, text_problem


class Text(fields.String):
    """A string without control characters; a single line unless ``multiline``."""

    def __init__(self, *args: Any, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text, multiline=self.multiline)
        if problem:
            raise ValidationError(problem)
        return text


def _hostname(value: str) -> None:
    problem = hostname_problem(value)
    if problem:
        raise ValidationError(problem)


FORMAT_VERSION = 1


class MacField(fields.Field):
    """A 48-bit MAC in any usual spelling, loaded as lower-case colon notation."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("a MAC address must be a string such as 52:54:00:12:34:56")
        try:
            return normalise_mac(value)
        except (ValueError, netaddr.AddrFormatError):
            raise ValidationError(f"{value!r} is not a MAC address") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value)


class IpField(fields.Field):
    """An IPv4 or IPv6 address without prefix length, loaded as ``netaddr.IPAddress``."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> netaddr.IPAddress:
        if not isinstance(value, str) or "/" in value:
            raise ValidationError(f"{value!r} is not an IP address (no prefix length here)")
        try:
            return netaddr.IPAddress(value)
        except (ValueError, netaddr.AddrFormatError):
            raise ValidationError(f"{value!r} is not an IP address") from None


class CidrField(fields.Field):
    """A network in CIDR notation whose host bits are zero, loaded as ``netaddr.IPNetwork``."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> netaddr.IPNetwork:
        if not isinstance(value, str) or "/" not in value:
            raise ValidationError(f"{value!r} is not a network in CIDR notation (10.0.0.0/24)")
        try:
            net = netaddr.IPNetwork(value)
        except (ValueError, netaddr.AddrFormatError):
            raise ValidationError(f"{value!r} is not a network in CIDR notation") from None
        if net.ip != net.network:
            raise ValidationError(f"{value!r} has host bits set; did you mean {net.cidr}?")
        return net


def _positive(**kwargs: Any) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=1), strict=True, **kwargs)


def _optional_positive() -> fields.Integer:
    return _positive(load_default=None, allow_none=True)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class CephPoolSchema(_Strict):
    name = Text(required=True, validate=validate.Length(min=1, max=128))
    description = Text(load_default="", multiline=True)


class VlanSchema(_Strict):
    vni = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_VNI))
    name = Text(required=True, validate=validate.Length(min=1, max=64))
    customer_id = _optional_positive()
    description = Text(load_default="", multiline=True)


class NetworkSchema(_Strict):
    cidr = CidrField(required=True)
    gateway = IpField(load_default=None, allow_none=True)
    vlan = fields.Integer(load_default=None, allow_none=True, strict=True)
    description = Text(load_default="", multiline=True)
    # Addresses of the network held by no interface (released, or reserved for allocation).
    unassigned = fields.List(IpField(), load_default=list)


class NetworksSchema(_Strict):
    ipv4 = fields.List(fields.Nested(NetworkSchema), load_default=list)
    ipv6 = fields.List(fields.Nested(NetworkSchema), load_default=list)


class HypervisorSchema(_Strict):
    cores = _positive(required=True)
    ram = _positive(required=True)
    local_storage_gb = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    vg_name = Text(load_default=None, allow_none=True, validate=validate.Length(max=64))
    local_storage_path = Text(load_default=None, allow_none=True, validate=validate.Length(max=255))
    methods = fields.List(Text(), required=True, validate=validate.Length(min=1))


class CephMonSchema(_Strict):
    port = fields.Integer(load_default=6789, strict=True, validate=validate.Range(1, 65535))


class NodeInterfaceSchema(_Strict):
    name = Text(load_default=None, allow_none=True, validate=validate.Length(max=15))
    mac = MacField(required=True)
    addresses = fields.List(IpField(), load_default=list)


class NodeSchema(_Strict):
    fqdn = Text(required=True, validate=[validate.Length(min=1, max=253), _hostname])
    location = Text(load_default="", validate=validate.Length(max=255))
    area = Text(load_default=None, allow_none=True, validate=validate.Length(max=64))
    state = Text(load_default="running")
    puppet_environment = Text(load_default=None, allow_none=True, validate=validate.Length(max=64))
    hypervisor = fields.Nested(HypervisorSchema, load_default=None, allow_none=True)
    ceph_osd = fields.Boolean(load_default=False)
    ceph_mon = fields.Nested(CephMonSchema, load_default=None, allow_none=True)
    interfaces = fields.List(fields.Nested(NodeInterfaceSchema), load_default=list)


class PlacementSchema(_Strict):
    hypervisor = Text(required=True)
    method = Text(load_default="kvm")


class VmInterfaceSchema(_Strict):
    mac = MacField(required=True)
    vlans = fields.List(fields.Integer(strict=True), load_default=list)
    addresses = fields.List(IpField(), load_default=list)


class DiskCephSchema(_Strict):
    pool = Text(required=True)
    discard = fields.Boolean(load_default=True)


class DiskSchema(_Strict):
    type = Text(required=True)
    size = _positive(required=True)
    cache = Text(load_default="default")
    read_iops_limit = _optional_positive()
    write_iops_limit = _optional_positive()
    read_bps_limit = _optional_positive()
    write_bps_limit = _optional_positive()
    ceph = fields.Nested(DiskCephSchema, load_default=None, allow_none=True)

    @validates_schema
    def _ceph_block(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["type"] == "ceph" and data["ceph"] is None:
            raise ValidationError("a ceph disk needs ceph: {pool: …}", "ceph")
        if data["type"] != "ceph" and data["ceph"] is not None:
            raise ValidationError(f"only a ceph disk has a ceph block, not {data['type']}", "ceph")


class VmSchema(_Strict):
    hostname = Text(required=True, validate=[validate.Length(min=1, max=253), _hostname])
    uuid = fields.UUID(load_default=None, allow_none=True)
    customer_id = _positive(required=True)
    cores = _positive(required=True)
    ram = _positive(required=True)
    cputime_limit = _optional_positive()
    requested_state = Text(load_default="stopped")
    actual_state = Text(load_default="stopped")
    placement = fields.Nested(PlacementSchema, load_default=None, allow_none=True)
    interfaces = fields.List(fields.Nested(VmInterfaceSchema), load_default=list)
    disks = fields.List(fields.Nested(DiskSchema), load_default=list)


class InventorySchema(_Strict):
    version = fields.Integer(required=True, strict=True, validate=validate.Equal(FORMAT_VERSION))
    nodes = fields.List(fields.Nested(NodeSchema), load_default=list)
    networks = fields.Nested(NetworksSchema, load_default=lambda: {"ipv4": [], "ipv6": []})
    vlans = fields.List(fields.Nested(VlanSchema), load_default=list)
    ceph_pools = fields.List(fields.Nested(CephPoolSchema), load_default=list)
    vms = fields.List(fields.Nested(VmSchema), load_default=list)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict as ``{"vms[12].interfaces[0].mac": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "document"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_errors(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out.setdefault(prefix or "document", []).extend(messages)
    elif isinstance(messages, list):
        for item in messages:
            for path, msgs in flatten_errors(item, prefix).items():
                out.setdefault(path, []).extend(msgs)
    else:
        out.setdefault(prefix or "document", []).append(str(messages))
    return out
