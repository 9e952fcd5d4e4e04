"""The shape of an inventory document (``virtapi export`` / ``virtapi import``), version 1.

Only natural keys appear: fqdn, hostname, uuid, CIDR, VNI, MAC, pool and vocabulary names.
Every value is parsed by ``virtapi.values`` through the same fields the REST API uses, so the
import accepts and refuses what the API does and stores the same normal form. The schemas
check each entry on its own; references between entries are checked by ``check`` once the
whole document has loaded.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from ... import values
from ...models.storage import SNAPSHOT_REQUESTS, SNAPSHOT_STATES
from .. import value_fields as vf

FORMAT_VERSION = 1
IP_VERSIONS = (4, 6)


class Text(fields.String):
    """A string without control characters; a single line unless ``multiline``."""

    def __init__(self, *args: Any, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return values.check_text(text, multiline=self.multiline)
        except values.InvalidValue as exc:
            raise ValidationError(str(exc)) from None


def _int(minimum: int, maximum: int, **kwargs: Any) -> vf.ParsedInt:
    return vf.ParsedInt(lambda v: values.parse_int(v, minimum, maximum), minimum, maximum, **kwargs)


def _count(**kwargs: Any) -> vf.ParsedInt:
    """CPU cores, CPU time: positive 32-bit, as the API's int32(1)."""
    return _int(1, values.INT32_MAX, **kwargs)


def _positive64(**kwargs: Any) -> vf.ParsedInt:
    """Customer ids and I/O limits: positive 64-bit, as the API's int64(1)."""
    return _int(1, values.INT64_MAX, **kwargs)


def _optional(field: Any, **kwargs: Any) -> Any:
    return field(load_default=None, allow_none=True, **kwargs)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class CephPoolSchema(_Strict):
    name = vf.name(required=True)
    description = Text(load_default="", multiline=True)
    cluster = vf.name(load_default=None, allow_none=True)


class CephClientSchema(_Strict):
    """A cephx user; never its key (unknown field): keys go in through the API only."""

    name = vf.ceph_client_name(required=True)
    caps = Text(load_default="", multiline=True)
    secret_uuid = vf.uuid(load_default=None, allow_none=True)
    is_default = fields.Boolean(load_default=False)


class CephClusterSchema(_Strict):
    name = vf.name(required=True)
    fsid = vf.uuid(load_default=None, allow_none=True)
    public_network = vf.cidr(load_default=None, allow_none=True)
    cluster_network = vf.cidr(load_default=None, allow_none=True)
    description = Text(load_default="", multiline=True)
    clients = fields.List(fields.Nested(CephClientSchema), load_default=list)


class VlanSchema(_Strict):
    vni = vf.vni(required=True)
    name = vf.name(required=True)
    customer_id = _optional(_positive64)
    description = Text(load_default="", multiline=True)


def _network_schema(version: int) -> type[Schema]:
    return _Strict.from_dict(
        {
            "cidr": vf.cidr(version, required=True),
            "gateway": vf.ip(version, load_default=None, allow_none=True),
            "vlan": vf.vni(load_default=None, allow_none=True),
            "description": Text(load_default="", multiline=True),
            "purpose": vf.purpose(load_default=None, allow_none=True),
            # Addresses of the network held by no interface (released, or reserved).
            "unassigned": fields.List(vf.ip(version), load_default=list),
        },
        name=f"Ipv{version}NetworkSchema",
    )


NetworksSchema = _Strict.from_dict(
    {
        f"ipv{v}": fields.List(fields.Nested(_network_schema(v)), load_default=list)
        for v in IP_VERSIONS
    },
    name="NetworksSchema",
)


class HypervisorSchema(_Strict):
    cores = _count(required=True)
    ram = vf.size(required=True)
    local_storage_gb = _int(0, values.INT64_MAX, load_default=0)
    vg_name = vf.name(load_default=None, allow_none=True)
    local_storage_path = Text(load_default=None, allow_none=True, validate=validate.Length(max=255))
    methods = fields.List(Text(), required=True, validate=validate.Length(min=1))


class CephMonSchema(_Strict):
    port = _int(1, 65535, load_default=6789)
    cluster = vf.name(load_default=None, allow_none=True)


class NodeInterfaceSchema(_Strict):
    name = Text(load_default=None, allow_none=True, validate=validate.Length(max=15))
    mac = vf.mac(required=True)
    purpose = vf.purpose(load_default=None, allow_none=True)
    addresses = fields.List(vf.ip(), load_default=list)


class NodeSchema(_Strict):
    fqdn = vf.hostname(required=True)
    location = Text(load_default="", validate=validate.Length(max=255))
    area = vf.name(load_default=None, allow_none=True)
    state = Text(load_default="running")
    puppet_environment = vf.name(load_default=None, allow_none=True)
    hypervisor = fields.Nested(HypervisorSchema, load_default=None, allow_none=True)
    ceph_osd = fields.Boolean(load_default=False)
    ceph_mon = fields.Nested(CephMonSchema, load_default=None, allow_none=True)
    ceph_cluster = vf.name(load_default=None, allow_none=True)
    ceph_client = vf.ceph_client_name(load_default=None, allow_none=True)
    interfaces = fields.List(fields.Nested(NodeInterfaceSchema), load_default=list)


class PlacementSchema(_Strict):
    hypervisor = Text(required=True)
    method = Text(load_default="kvm")


class VmInterfaceSchema(_Strict):
    mac = vf.mac(required=True)
    vlans = fields.List(vf.vni(), load_default=list)
    addresses = fields.List(vf.ip(), load_default=list)
    # Its routed /64, out of one of the prefix pools (services/network/prefixes.py).
    routed_prefix = vf.cidr(6, load_default=None, allow_none=True)


class SnapshotSchema(_Strict):
    name = vf.snapshot_name(required=True)
    requested_state = Text(load_default="present", validate=validate.OneOf(SNAPSHOT_REQUESTS))
    state = Text(load_default="pending", validate=validate.OneOf(SNAPSHOT_STATES))
    rollback = fields.Boolean(load_default=False)


class BackupScheduleSchema(_Strict):
    """A schedule of its VM (all disks) or of one disk; the values are checked in ``check``
    by the functions the API calls."""

    store = vf.name(required=True)
    on_calendar = fields.Raw(required=True)
    retention = fields.Raw(required=True)


class DiskCephSchema(_Strict):
    pool = Text(required=True)
    discard = fields.Boolean(load_default=True)


class DiskSchema(_Strict):
    type = Text(required=True)
    size = vf.size(required=True)
    cache = Text(load_default="default")
    read_iops_limit = _optional(_positive64)
    write_iops_limit = _optional(_positive64)
    read_bps_limit = _optional(_positive64)
    write_bps_limit = _optional(_positive64)
    ceph = fields.Nested(DiskCephSchema, load_default=None, allow_none=True)
    base_image = vf.name(load_default=None, allow_none=True)  # a clone of it
    snapshots = fields.List(fields.Nested(SnapshotSchema), load_default=list)
    backup_schedules = fields.List(fields.Nested(BackupScheduleSchema), load_default=list)

    @validates_schema
    def _ceph_block(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["type"] == "ceph" and data["ceph"] is None:
            raise ValidationError("a ceph disk needs ceph: {pool: …}", "ceph")
        if data["type"] != "ceph" and data["ceph"] is not None:
            raise ValidationError(f"only a ceph disk has a ceph block, not {data['type']}", "ceph")


class VmSchema(_Strict):
    hostname = vf.hostname(required=True)
    uuid = fields.UUID(load_default=None, allow_none=True)
    customer_id = _positive64(required=True)
    cores = _count(required=True)
    ram = vf.size(required=True)
    cputime_limit = _optional(_count)
    requested_state = Text(load_default="stopped")
    actual_state = Text(load_default="stopped")
    placement = fields.Nested(PlacementSchema, load_default=None, allow_none=True)
    interfaces = fields.List(fields.Nested(VmInterfaceSchema), load_default=list)
    disks = fields.List(fields.Nested(DiskSchema), load_default=list)
    backup_schedules = fields.List(fields.Nested(BackupScheduleSchema), load_default=list)


class BackupStoreSchema(_Strict):
    """Checked in ``check`` by ``backups.check_store``, as the API does."""

    name = fields.Raw(required=True)
    kind = Text(required=True)
    target = fields.Raw(required=True)
    description = Text(load_default="", multiline=True)


class BaseImageSchema(_Strict):
    name = vf.name(required=True)
    storage_type = Text(required=True)
    ceph_pool = vf.name(load_default=None, allow_none=True)
    size = vf.size(required=True)
    source_url = Text(load_default="")
    description = Text(load_default="", multiline=True)


class PrefixPoolSchema(_Strict):
    prefix = vf.cidr(6, required=True)
    description = Text(load_default="", multiline=True)


# Issue 18: values are checked by services/config_data.py when written (transfer/config.py).
class LevelSchema(_Strict):
    level = Text(required=True)
    target = Text(load_default=None, allow_none=True)
    classes = fields.Dict(load_default=dict)
    data = fields.Dict(load_default=dict)


class HostGroupSchema(_Strict):
    name = Text(required=True)
    description = Text(load_default="", multiline=True)
    parent = Text(load_default=None, allow_none=True)
    classes = fields.Dict(load_default=dict)
    data = fields.Dict(load_default=dict)
    members = fields.List(Text(), load_default=list)


class ConfigSchema(_Strict):
    levels = fields.List(fields.Nested(LevelSchema), load_default=list)
    host_groups = fields.List(fields.Nested(HostGroupSchema), load_default=list)


class InventorySchema(_Strict):
    version = fields.Integer(required=True, strict=True, validate=validate.Equal(FORMAT_VERSION))
    nodes = fields.List(fields.Nested(NodeSchema), load_default=list)
    networks = fields.Nested(
        NetworksSchema, load_default=lambda: {f"ipv{v}": [] for v in IP_VERSIONS}
    )
    vlans = fields.List(fields.Nested(VlanSchema), load_default=list)
    ceph_clusters = fields.List(fields.Nested(CephClusterSchema), load_default=list)
    ceph_pools = fields.List(fields.Nested(CephPoolSchema), load_default=list)
    vms = fields.List(fields.Nested(VmSchema), load_default=list)
    config = fields.Nested(ConfigSchema, load_default=lambda: {"levels": [], "host_groups": []})
    backup_stores = fields.List(fields.Nested(BackupStoreSchema), load_default=list)
    base_images = fields.List(fields.Nested(BaseImageSchema), load_default=list)
    prefix_pools = fields.List(fields.Nested(PrefixPoolSchema), load_default=list)


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
