"""All tables of virtapi; importing this module registers every model on ``Base.metadata``."""

from .audit import AppliedDocument, Change, ChangeNode, DataVersion
from .auth import ROLES, ApiToken, AuthFailure, WebSession
from .backups import Backup, BackupSchedule, BackupStore, DiskRestore
from .base import Base
from .ceph import CephClient, CephCluster
from .compute import CustomerQuota, Vm, VmState
from .config import ConfigData, HostGroup, HostGroupMember
from .network import (
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Ipv6PrefixPool,
    Ipv6RoutedPrefix,
    Vlan,
    VmInterface,
    vlan_member,
)
from .nodes import CephMonNode, CephOsdNode, Node, NodeMethod, NodeState, VirtMethod, VirtNode
from .provisioning import Image, Install
from .storage import (
    BaseImage,
    CacheOption,
    CephPool,
    Snapshot,
    Storage,
    StorageCeph,
    StorageType,
)

for _table in Base.metadata.tables.values():
    # Without AUTOINCREMENT SQLite hands a deleted id to the next row, and one change history
    # would mix two objects (migration 0005 rebuilt the tables so).
    if "id" in _table.c and _table.c.id.primary_key and _table.c.id.autoincrement is True:
        _table.dialect_options["sqlite"]["autoincrement"] = True

__all__ = [
    "ROLES",
    "ApiToken",
    "AppliedDocument",
    "AuthFailure",
    "Backup",
    "BackupSchedule",
    "BackupStore",
    "Base",
    "BaseImage",
    "CacheOption",
    "CephClient",
    "CephCluster",
    "CephMonNode",
    "CephOsdNode",
    "CephPool",
    "Change",
    "ChangeNode",
    "ConfigData",
    "CustomerQuota",
    "DataVersion",
    "DiskRestore",
    "HostGroup",
    "HostGroupMember",
    "Image",
    "Install",
    "Ipv4Address",
    "Ipv4Network",
    "Ipv6Address",
    "Ipv6Network",
    "Ipv6PrefixPool",
    "Ipv6RoutedPrefix",
    "Node",
    "NodeMethod",
    "NodeState",
    "Snapshot",
    "Storage",
    "StorageCeph",
    "StorageType",
    "VirtMethod",
    "VirtNode",
    "Vlan",
    "Vm",
    "VmInterface",
    "VmState",
    "WebSession",
    "vlan_member",
]
