"""The change log as people read it: names instead of ids, links to the objects, and for
customers no staff names and no installer internals.

Rows are the audit log's (``inventory.changes``); this only presents them, with one query per
kind of name it needs (states, types, VMs, nodes …) whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import Principal
from ..models import (
    CacheOption,
    CephPool,
    Change,
    Image,
    Node,
    NodeState,
    StorageType,
    VirtMethod,
    Vm,
    VmState,
)

# A column holding an id → the table whose name (or hostname/fqdn) to show instead.
NAMED_BY = {
    "requested_state_id": VmState,
    "actual_state_id": VmState,
    "node_state_id": NodeState,
    "reported_state_id": NodeState,
    "storage_type_id": StorageType,
    "cache_option_id": CacheOption,
    "virt_method_id": VirtMethod,
    "image_id": Image,
    "ceph_pool_id": CephPool,
    "vm_id": Vm,
    "node_id": Node,
}
_LABEL_COLUMN = {Vm: Vm.hostname, Node: Node.fqdn}
# What a customer sees of an install: its progress, not how the installer works.
CUSTOMER_INSTALL_FIELDS = frozenset({"state", "phase", "percent", "image_id", "vm_id"})
OBJECT_TABLES = {"vm": Vm, "node": Node}


@dataclass
class Row:
    change: Change
    who: str
    label: str
    link: str | None
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)


def _label(column: str) -> str:
    """actual_state_id → 'actual state'."""
    return column.removesuffix("_id").replace("_", " ")


def _names(session: Session, wanted: dict[type, set[int]]) -> dict[type, dict[int, str]]:
    out: dict[type, dict[int, str]] = {}
    for model, ids in wanted.items():
        if not ids:
            continue
        column = _LABEL_COLUMN.get(model, getattr(model, "name", None))
        rows = session.execute(select(model.id, column).where(model.id.in_(ids)))
        out[model] = {key: name for key, name in rows}
    return out


def present(session: Session, changes: list[Change], me: Principal) -> list[Row]:
    customer = me.customer_id if me.is_customer else None
    wanted: dict[type, set[int]] = defaultdict(set)
    uuids: set[int] = set()
    for c in changes:
        for values in (c.before or {}, c.after or {}):
            for key, value in values.items():
                if key in NAMED_BY and isinstance(value, int):
                    wanted[NAMED_BY[key]].add(value)
        if c.object_type in OBJECT_TABLES and c.object_id.isdigit():
            wanted[OBJECT_TABLES[c.object_type]].add(int(c.object_id))
            if c.object_type == "vm":
                uuids.add(int(c.object_id))
    names = _names(session, wanted)
    vm_uuids: dict[int, str] = {}
    if uuids:
        query = select(Vm.id, Vm.uuid).where(Vm.id.in_(uuids))
        if customer is not None:
            query = query.where(Vm.customer_id == customer)
        vm_uuids = {key: str(value) for key, value in session.execute(query)}

    def show(key: str, value: Any) -> Any:
        if key in NAMED_BY and isinstance(value, int):
            return names.get(NAMED_BY[key], {}).get(value, f"#{value}")
        return value

    rows = []
    for c in changes:
        visible = None
        if customer is not None and c.object_type == "install":
            visible = CUSTOMER_INSTALL_FIELDS
        if c.action == "update":
            keys = list((c.after or {}).keys())
        else:
            keys = list((c.after if c.action == "create" else c.before) or {})
        if visible is not None:
            keys = [k for k in keys if k in visible]
        fields = [
            (_label(k), show(k, (c.before or {}).get(k)), show(k, (c.after or {}).get(k)))
            for k in keys
        ]
        rows.append(
            Row(c, _who(c, me), _object_label(c, names), _link(c, me, vm_uuids, names), fields)
        )
    return rows


def _who(c: Change, me: Principal) -> str:
    if not me.is_customer:
        return c.actor
    if c.actor_token_id is not None and c.actor_token_id == me.token_id:
        return "you"
    return "system" if c.actor_token_id is None else "operator"


def _object_label(c: Change, names: dict[type, dict[int, str]]) -> str:
    model = OBJECT_TABLES.get(c.object_type)
    if model is not None and c.object_id.isdigit():
        name = names.get(model, {}).get(int(c.object_id))
        if name:
            return name
    v = c.after or c.before or {}
    for key in ("hostname", "fqdn", "address", "mac", "name"):
        if v.get(key):
            return str(v[key])
    return f"#{c.object_id}"


def _link(
    c: Change, me: Principal, vm_uuids: dict[int, str], names: dict[type, dict[int, str]]
) -> str | None:
    """The object's own page, while it exists and the reader may see it."""
    if c.object_type == "vm" and c.object_id.isdigit() and int(c.object_id) in vm_uuids:
        return url_for("web.vm", vm_uuid=vm_uuids[int(c.object_id)])
    nodes = names.get(Node, {})
    if c.object_type == "node" and not me.is_customer and int(c.object_id or 0) in nodes:
        return url_for("web.node", node_id=c.object_id)
    return None
