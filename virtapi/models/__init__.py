"""All tables of virtapi; importing this module registers every model on ``Base.metadata``."""

from .audit import AppliedDocument, Change, ChangeNode, DataVersion
from .auth import ROLES, ApiToken, AuthFailure
from .base import Base
from .compute import CustomerQuota, Vm, VmState
from .network import (
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Vlan,
    VmInterface,
    vlan_member,
)
from .nodes import CephMonNode, CephOsdNode, Node, NodeMethod, NodeState, VirtMethod, VirtNode
from .provisioning import Image, Install
from .storage import CacheOption, CephPool, Storage, StorageCeph, StorageType

__all__ = [
    "ROLES",
    "ApiToken",
    "AppliedDocument",
    "AuthFailure",
    "Base",
    "CacheOption",
    "CephMonNode",
    "CephOsdNode",
    "CephPool",
    "Change",
    "ChangeNode",
    "CustomerQuota",
    "DataVersion",
    "Image",
    "Install",
    "Ipv4Address",
    "Ipv4Network",
    "Ipv6Address",
    "Ipv6Network",
    "Node",
    "NodeMethod",
    "NodeState",
    "Storage",
    "StorageCeph",
    "StorageType",
    "VirtMethod",
    "VirtNode",
    "Vlan",
    "Vm",
    "VmInterface",
    "VmState",
    "vlan_member",
]
