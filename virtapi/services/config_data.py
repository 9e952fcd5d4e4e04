"""Configuration data: classes, parameters and free data by level, merged and explained.

The one place that knows the precedence. The node document (services/node_document.py), the
explain endpoint, the HTML node page and ``virtapi explain`` all call it.

Levels, lowest first:

    global  <  area  <  role (hypervisor, ceph_osd, ceph_mon, vm; in that order)
            <  host groups, root to leaf (by depth; same depth: by name, never conflicting)
            <  node (the machine itself)

Each level holds ``classes`` (Puppet class → parameters) and ``data`` (Hiera key → JSON value).
Both are one key space: a class parameter is the key ``<class>::<param>`` (as Puppet's automatic
parameter lookup reads it). For each key the higher level wins; when both values are hashes they
are deep-merged (arrays and scalars are replaced). ``{"__remove__": true}`` as a value (or as a
nested hash entry) removes what lower levels set; as a class's parameters it removes the class.
Two groups at the same depth that set the same key for a common member are refused when written
(409), so the merge never depends on chance.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import Select, String, Text, bindparam, cast, or_, select
from sqlalchemy.orm import Session

from .. import values
from ..models import ConfigData, HostGroup, HostGroupMember, Node, Vm
from ..models.config import CONFIG_LEVELS
from .errors import Conflict, InvalidInput, NotFound
from .locks import advisory_lock
from .validation import checked

ROLE_ORDER = ("hypervisor", "ceph_osd", "ceph_mon", "vm")
MAX_GROUP_DEPTH = 8
GROUP_LOCK = "host_groups"  # a root has depth 0; so at most 8 groups from root to leaf
_MISSING = object()

group_t = HostGroup.__table__
member_t = HostGroupMember.__table__
data_t = ConfigData.__table__


# --- validation -------------------------------------------------------------------------------


def parse_classes(raw: Any, field_name: str = "classes") -> dict[str, Any]:
    """``{class: {param: value}}`` (or ``{class: {"__remove__": true}}``), validated."""
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"{field_name} must be an object of class name → parameters",
            errors={field_name: ["not an object"]},
        )
    out: dict[str, Any] = {}
    for name, params in raw.items():
        name = checked(values.parse_class_name, name, field_name)
        where = f"{field_name}.{name}"
        if not isinstance(params, dict):
            raise InvalidInput(
                f"{where} must be an object of parameter → value ({{}} for none)",
                errors={field_name: [f"{name}: parameters must be an object"]},
            )
        if not values.is_removal(params):
            for param, value in params.items():
                checked(values.parse_parameter_name, param, field_name)
                checked(
                    lambda v, w=f"{where}.{param}": values.parse_config_value(v, w),
                    value,
                    field_name,
                )
        out[name] = params
    checked(lambda v: values.parse_config_value(v, field_name), out, field_name)
    return out


def parse_data(raw: Any, field_name: str = "data") -> dict[str, Any]:
    """``{hiera_key: value}``, validated."""
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"{field_name} must be an object of Hiera key → value",
            errors={field_name: ["not an object"]},
        )
    for key, value in raw.items():
        checked(values.parse_hiera_key, key, field_name)
        checked(
            lambda v, w=f"{field_name}.{key}": values.parse_config_value(v, w), value, field_name
        )
    checked(lambda v: values.parse_config_value(v, field_name), raw, field_name)
    return dict(raw)


# --- levels and the merge ---------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One level's contribution: ``name`` as shown by explain."""

    name: str
    classes: Mapping[str, Any]
    data: Mapping[str, Any]

    def keys(self) -> dict[str, Any]:
        """Data and class parameters in one key space."""
        flat = dict(self.data)
        for cls, params in self.classes.items():
            if not values.is_removal(params):
                for param, value in params.items():
                    flat[f"{cls}::{param}"] = value
        return flat


@dataclass
class Merged:
    classes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def as_document(self) -> dict[str, Any]:
        return {"classes": self.classes, "data": values.unescape_config_value(self.data)}


def _strip(value: Any) -> Any:
    """A value with no lower counterpart: removal markers inside it have nothing to remove."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not values.is_removal(v)}
    return value


def deep_merge(lower: Any, higher: Any) -> Any:
    """``higher`` over ``lower``: hashes merged key by key, everything else replaced."""
    if isinstance(lower, dict) and isinstance(higher, dict):
        out = dict(lower)
        for key, value in higher.items():
            if values.is_removal(value):
                out.pop(key, None)
            elif key in out:
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = _strip(value)
        return out
    return _strip(higher)


def merge(levels: Iterable[Level]) -> Merged:
    classes: dict[str, None] = {}
    data: dict[str, Any] = {}
    for level in levels:
        for cls, params in level.classes.items():
            if values.is_removal(params):
                classes.pop(cls, None)
            else:
                classes[cls] = None
        for key, value in level.keys().items():
            if values.is_removal(value):
                data.pop(key, None)
            else:
                data[key] = deep_merge(data.get(key, _MISSING), value)
    return Merged(sorted(classes), dict(sorted(data.items())))


def class_parameters(document_config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Assigned class → its parameters (the merged ``<class>::<param>`` keys)."""
    data = document_config.get("data", {})
    out: dict[str, dict[str, Any]] = {}
    for cls in document_config.get("classes", []):
        prefix = f"{cls}::"
        out[cls] = {
            key[len(prefix) :]: value
            for key, value in data.items()
            if key.startswith(prefix) and "::" not in key[len(prefix) :]
        }
    return out


# --- reading the levels of one machine: two statements ----------------------------------------


def _text(column: Any) -> Any:
    # JSON as the text the database holds: a cache key, parsed only on a cache miss.
    return cast(column, Text)


_ROLE_PARAMS = [bindparam(f"role_{i}", type_=String) for i in range(len(ROLE_ORDER))]


@cache
def _statements() -> tuple[Select[Any], Select[Any]]:
    levels = select(
        data_t.c.level, data_t.c.target, _text(data_t.c.classes), _text(data_t.c.data)
    ).where(
        or_(
            data_t.c.level == "global",
            (data_t.c.level == "area") & (data_t.c.target == bindparam("area")),
            # One parameter per possible role (unused ones NULL, which matches nothing), not an
            # expanding IN: that would render the node document's 12 KB statement anew on
            # every build (SQLAlchemy's post-compile step).
            (data_t.c.level == "role") & data_t.c.target.in_(_ROLE_PARAMS),
            (data_t.c.level == "node") & (data_t.c.target == bindparam("node_target")),
        )
    )
    # The machine's groups and all their ancestors (UNION: each once, and safe on any tree).
    chain = (
        select(member_t.c.group_id.label("id"))
        .where(
            or_(
                member_t.c.node_id == bindparam("node_id"),
                member_t.c.vm_id == bindparam("vm_id"),
            )
        )
        .cte("chain", recursive=True)
    )
    parent = group_t.alias("parent")
    chain = chain.union(
        select(parent.c.parent_id)
        .select_from(parent)
        .join(chain, parent.c.id == chain.c.id)
        .where(parent.c.parent_id.is_not(None))
    )
    groups = select(
        group_t.c.name, group_t.c.depth, _text(group_t.c.classes), _text(group_t.c.data)
    ).where(group_t.c.id.in_(select(chain.c.id)))
    return levels, groups


def target_of(kind: str, object_id: int) -> str:
    """The node level's target for a node or VM id."""
    return f"{kind}:{object_id}"


# One level as stored: its name, then classes and data as JSON text (None when unset).
RawLevel = tuple[str, str | None, str | None]


def statements() -> dict[str, Select[Any]]:
    """The two statements of a machine's levels by name (the node document may send them
    along with its own), both taking `level_params`."""
    levels, groups = _statements()
    return {"config_levels": levels, "config_groups": groups}


def level_params(
    kind: str, object_id: int, area: str | None, roles: Iterable[str]
) -> dict[str, Any]:
    role_list = list(roles)
    unused = [None] * (len(ROLE_ORDER) - len(role_list))
    return {
        "area": area or "",
        **{param.key: role for param, role in zip(_ROLE_PARAMS, role_list + unused, strict=True)},
        "node_target": target_of(kind, object_id),
        "node_id": object_id if kind == "node" else None,
        "vm_id": object_id if kind == "vm" else None,
    }


def _raw_levels(
    conn: Any, kind: str, object_id: int, area: str | None, roles: Iterable[str]
) -> list[RawLevel]:
    """The levels of one node (``kind="node"``) or VM, lowest first, unparsed."""
    params = level_params(kind, object_id, area, roles)
    rows, groups = (conn.execute(s, params).all() for s in statements().values())
    return ordered_levels(rows, groups, kind, object_id, area, roles)


def ordered_levels(
    rows: Iterable[Sequence[Any]],
    groups: Iterable[Sequence[Any]],
    kind: str,
    object_id: int,
    area: str | None,
    roles: Iterable[str],
) -> list[RawLevel]:
    """The rows of `statements()` as a machine's levels, lowest first, unparsed."""
    role_list = list(roles)
    by_level = {(level, target): (classes, data) for level, target, classes, data in rows}
    out: list[RawLevel] = []
    if ("global", "") in by_level:
        out.append(("global", *by_level["global", ""]))
    if area and ("area", area) in by_level:
        out.append((f"area {area}", *by_level["area", area]))
    for role in ROLE_ORDER:
        if role in role_list and ("role", role) in by_level:
            out.append((f"role {role}", *by_level["role", role]))
    for name, depth, classes, data in sorted(groups, key=lambda g: (g[1], g[0])):
        out.append((f"group {name} (depth {depth})", classes, data))
    own = by_level.get(("node", target_of(kind, object_id)))
    if own is not None:
        out.append(("node", *own))
    return out


def _json(text: str | None) -> Any:
    return (json.loads(text) if text else None) or {}


def _parsed(raw: list[RawLevel]) -> list[Level]:
    return [Level(name, _json(classes), _json(data)) for name, classes, data in raw]


def machine_levels(
    conn: Any, kind: str, object_id: int, area: str | None, roles: Iterable[str]
) -> list[Level]:
    """The levels of one node (``kind="node"``) or VM, lowest first."""
    return _parsed(_raw_levels(conn, kind, object_id, area, roles))


@lru_cache(maxsize=1024)
def _merged(levels: tuple[RawLevel, ...]) -> dict[str, Any]:
    # Keyed by the exact stored levels (names and JSON text): a write changes the text, so an
    # entry is never stale, and the common rebuild (the document was invalidated by a write
    # elsewhere) skips parsing and merging.
    return merge(_parsed(list(levels))).as_document()


def document_section(levels: list[RawLevel]) -> dict[str, Any]:
    """The node document's ``config`` (assigned classes and merged data) of a machine's
    levels as `ordered_levels` gives them."""
    merged = _merged(tuple(levels))
    # New outer containers per document; the values inside are shared and read-only.
    return {"classes": list(merged["classes"]), "data": dict(merged["data"])}


# --- explain ----------------------------------------------------------------------------------


def explain_levels(levels: list[Level], key: str | None = None) -> dict[str, Any]:
    """Each key's contributions, lowest level first, and which level won (like
    ``puppet lookup --explain``); with ``key`` only that key (NotFound if no level sets it)."""
    merged = merge(levels).as_document()
    keys: dict[str, dict[str, Any]] = defaultdict(lambda: {"contributions": []})
    for level in levels:
        for name, value in level.keys().items():
            keys[name]["contributions"].append({"level": level.name, "value": value})
    for name, entry in keys.items():
        last = entry["contributions"][-1]
        entry["winner"] = last["level"]
        entry["present"] = name in merged["data"]
        entry["value"] = merged["data"].get(name)
        hashes = [c for c in entry["contributions"] if isinstance(c["value"], dict)]
        deep = len(hashes) > 1 and isinstance(last["value"], dict)
        entry["merge"] = "deep" if deep else "replace"
    classes: dict[str, dict[str, Any]] = {}
    for level in levels:
        for cls, params in level.classes.items():
            entry = classes.setdefault(cls, {"levels": []})
            entry["levels"].append({"level": level.name, "removed": values.is_removal(params)})
    for cls, entry in classes.items():
        entry["assigned"] = cls in merged["classes"]
    result: dict[str, Any] = {"levels": [level.name for level in levels]}
    if key is not None:
        if key not in keys:
            raise NotFound(
                f"no level sets {key!r} for this machine; levels: "
                + (", ".join(result["levels"]) or "none"),
                code="unknown_key",
            )
        result["keys"] = {key: keys[key]}
    else:
        result["keys"] = dict(sorted(keys.items()))
        result["classes"] = dict(sorted(classes.items()))
    return result


@dataclass(frozen=True)
class Machine:
    """What the merge needs to know about one certname."""

    certname: str
    kind: str  # node or vm
    id: int
    area: str | None
    roles: tuple[str, ...]


def find_machine(session: Session, certname: str) -> Machine:
    """A node by fqdn, or a VM by hostname; NotFound otherwise."""
    node = session.scalar(select(Node).where(Node.fqdn == certname))
    if node is not None:
        roles = tuple(
            role
            for role, present in (
                ("hypervisor", node.virt_node is not None),
                ("ceph_osd", node.ceph_osd_node is not None),
                ("ceph_mon", node.ceph_mon_node is not None),
            )
            if present
        )
        return Machine(certname, "node", node.id, node.area, roles)
    vm_id = session.scalar(select(Vm.id).where(Vm.hostname == certname))
    if vm_id is None:
        raise NotFound(
            f"no node or VM is called {certname!r}: use a node's fqdn or a VM's hostname",
            code="unknown_certname",
        )
    return Machine(certname, "vm", vm_id, None, ("vm",))


def explain(session: Session, certname: str, key: str | None = None) -> dict[str, Any]:
    """``explain_levels`` for a certname."""
    machine = find_machine(session, certname)
    levels = machine_levels(
        session.connection(), machine.kind, machine.id, machine.area, machine.roles
    )
    return {"certname": certname, **explain_levels(levels, key)}


def explain_text(explained: Mapping[str, Any]) -> str:
    """``explain``'s answer for a terminal, one key after the other (``virtapi explain``)."""
    lines = [f"{explained['certname']}: levels " + " < ".join(explained["levels"] or ["none"])]
    for cls, entry in explained.get("classes", {}).items():
        where = ", ".join(
            ("removed by " if lv["removed"] else "") + lv["level"] for lv in entry["levels"]
        )
        lines.append(f"class {cls}: {'assigned' if entry['assigned'] else 'removed'} ({where})")
    for key, entry in explained["keys"].items():
        lines.append(f"{key}:")
        for c in entry["contributions"]:
            mark = "*" if c["level"] == entry["winner"] else " "
            lines.append(f"  {mark} {c['level']}: {json.dumps(c['value'], sort_keys=True)}")
        result = json.dumps(entry["value"], sort_keys=True) if entry["present"] else "(removed)"
        lines.append(f"  = {result} ({entry['merge']}, winner: {entry['winner']})")
    return "\n".join(lines) + "\n"


# --- writes: group tree, members, conflicts ---------------------------------------------------


def _group_keys(classes: Mapping[str, Any], data: Mapping[str, Any]) -> set[str]:
    level = Level("", classes, data)
    return set(level.keys()) | {f"class {c}" for c in classes}


def check_group_conflicts(session: Session, touched: Iterable[int]) -> None:
    """409 if two groups at the same depth set the same key for a common member, for every
    member of the touched groups and of their descendants."""
    session.flush()
    groups = {
        row.id: row
        for row in session.execute(
            select(
                group_t.c.id, group_t.c.name, group_t.c.parent_id, group_t.c.depth,
                group_t.c.classes, group_t.c.data,
            )
        )
    }  # fmt: skip
    children: dict[int | None, list[int]] = defaultdict(list)
    for g in groups.values():
        children[g.parent_id].append(g.id)
    subtree: set[int] = set()
    stack = [g for g in touched if g in groups]
    while stack:
        gid = stack.pop()
        if gid not in subtree:
            subtree.add(gid)
            stack.extend(children.get(gid, []))
    if not subtree:
        return
    in_subtree = member_t.c.group_id.in_(sorted(subtree))
    rows = session.execute(
        select(member_t.c.group_id, member_t.c.node_id, member_t.c.vm_id).where(
            or_(
                member_t.c.node_id.in_(select(member_t.c.node_id).where(in_subtree)),
                member_t.c.vm_id.in_(select(member_t.c.vm_id).where(in_subtree)),
            )
        )
    ).all()
    direct: dict[tuple[str, int], set[int]] = defaultdict(set)
    for gid, node_id, vm_id in rows:
        direct[("node", node_id) if node_id is not None else ("vm", vm_id)].add(gid)
    keys = {gid: _group_keys(g.classes or {}, g.data or {}) for gid, g in groups.items()}
    seen: set[frozenset[int]] = set()
    for member_groups in direct.values():
        frozen = frozenset(member_groups)
        if frozen in seen:
            continue
        seen.add(frozen)
        effective: set[int] = set()
        for gid in member_groups:
            while gid is not None and gid not in effective:
                effective.add(gid)
                gid = groups[gid].parent_id
        by_depth: dict[int, list[int]] = defaultdict(list)
        for gid in effective:
            by_depth[groups[gid].depth].append(gid)
        for same in by_depth.values():
            same.sort(key=lambda g: groups[g].name)
            for i, a in enumerate(same):
                for b in same[i + 1 :]:
                    common = keys[a] & keys[b]
                    if common:
                        key = sorted(common)[0]
                        ga, gb = groups[a].name, groups[b].name
                        raise Conflict(
                            f"groups {ga!r} and {gb!r} are both at depth {groups[a].depth} "
                            f"and both set {key!r} for a common member; set it in only one "
                            "of them, in a parent group, or on the node",
                            code="group_conflict",
                            errors={"groups": [ga, gb], "key": [key]},
                        )


def _set_parent(session: Session, group: HostGroup, parent_id: int | None) -> None:
    if parent_id is None:
        group.parent = None
        group.depth = 0
    else:
        parent = session.get(HostGroup, parent_id)
        if parent is None:
            raise NotFound(
                f"no host group with id {parent_id}", errors={"parent_id": ["no such group"]}
            )
        walk: HostGroup | None = parent
        while walk is not None:
            if walk is group:
                raise Conflict(
                    f"group {group.name!r} cannot sit below {parent.name!r}: that is one of "
                    "its own descendants (the groups would form a cycle)",
                    code="cycle",
                    errors={"parent_id": ["would form a cycle"]},
                )
            walk = walk.parent
        group.parent = parent
        group.depth = parent.depth + 1
    _redepth(session, group)


def _redepth(session: Session, group: HostGroup) -> None:
    """Descendants follow a moved group; none may end deeper than the limit."""
    session.flush()
    pending = [group]
    while pending:
        current = pending.pop()
        if current.depth >= MAX_GROUP_DEPTH:
            raise Conflict(
                f"group {current.name!r} would be at depth {current.depth + 1}; groups nest "
                f"at most {MAX_GROUP_DEPTH} deep",
                code="too_deep",
                errors={"parent_id": [f"deeper than {MAX_GROUP_DEPTH} levels"]},
            )
        for child in session.scalars(select(HostGroup).where(HostGroup.parent_id == current.id)):
            if child.depth != current.depth + 1:
                child.depth = current.depth + 1
            pending.append(child)


def _resolve_member(session: Session, certname: Any) -> tuple[str, int]:
    if not isinstance(certname, str):
        raise InvalidInput("members are certnames (strings)", errors={"members": ["not a string"]})
    try:
        machine = find_machine(session, certname)
    except NotFound:
        raise InvalidInput(
            f"no node or VM is called {certname!r}; members are node fqdns or VM hostnames",
            errors={"members": [f"{certname}: unknown certname"]},
        ) from None
    return machine.kind, machine.id


def _set_members(session: Session, group: HostGroup, certnames: Iterable[Any]) -> None:
    wanted = {_resolve_member(session, c) for c in certnames}
    current = {
        (("node", m.node_id) if m.node_id is not None else ("vm", m.vm_id)): m
        for m in group.members
    }
    for key, member in current.items():
        if key not in wanted:
            group.members.remove(member)
    for kind, object_id in sorted(wanted - current.keys()):
        group.members.append(
            HostGroupMember(node_id=object_id if kind == "node" else None,
                            vm_id=object_id if kind == "vm" else None)
        )  # fmt: skip


def group_by_name(session: Session, name: str) -> HostGroup:
    group = session.scalar(select(HostGroup).where(HostGroup.name == name))
    if group is None:
        raise NotFound(f"no host group is called {name!r}", errors={"name": ["no such group"]})
    return group


def describe_group(session: Session, name: str) -> dict[str, Any]:
    """A group as the CLI and the HTML page show it."""
    group = group_by_name(session, name)
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "parent": group.parent.name if group.parent else None,
        "depth": group.depth,
        "classes": group.classes,
        "data": group.data,
        "members": member_certnames(group),
        "children": sorted(
            session.scalars(select(HostGroup.name).where(HostGroup.parent_id == group.id))
        ),
    }


def member_certnames(group: HostGroup) -> list[str]:
    return sorted(m.node.fqdn if m.node is not None else m.vm.hostname for m in group.members)


def save_group(session: Session, group: HostGroup | None, data: Mapping[str, Any]) -> HostGroup:
    """Create (``group=None``) or change a host group: name, description, parent, classes,
    data, members (certnames; the list replaces the old one). Checks the tree and conflicts."""
    # Group writes are rare: one at a time, so two can never both pass the conflict check.
    advisory_lock(session, GROUP_LOCK)
    if group is None:
        group = HostGroup(name="", description="", depth=0, classes={}, data={})
        session.add(group)
    if "name" in data:
        name = checked(values.parse_name, data["name"], "name")
        taken = session.scalar(
            select(HostGroup.id).where(HostGroup.name == name, HostGroup.id != group.id)
        )
        if taken is not None:
            raise Conflict(
                f"a host group is already called {name!r} (id {taken})",
                errors={"name": ["already taken"]},
            )
        group.name = name
    if "description" in data:
        group.description = checked(values.check_text, data["description"] or "", "description")
    if "classes" in data:
        group.classes = parse_classes(data["classes"])
    if "data" in data:
        group.data = parse_data(data["data"])
    session.flush()
    if "parent_id" in data:
        _set_parent(session, group, data["parent_id"])
    if "members" in data:
        _set_members(session, group, data["members"])
    check_group_conflicts(session, [group.id])
    return group


def delete_group(session: Session, group: HostGroup) -> None:
    advisory_lock(session, GROUP_LOCK)
    children = session.scalars(
        select(HostGroup.name).where(HostGroup.parent_id == group.id).order_by(HostGroup.name)
    ).all()
    if children:
        raise Conflict(
            f"group {group.name!r} has child groups ({', '.join(children)}); move or delete "
            "them first",
            errors={"children": list(children)},
        )
    session.delete(group)
    session.flush()


# --- the other levels -------------------------------------------------------------------------


def level_target(session: Session, level: str, target: str | None) -> tuple[str, dict[str, Any]]:
    """The stored target of (level, target as the API names it) and its extra columns."""
    if level not in CONFIG_LEVELS:
        raise NotFound(
            f"no level {level!r}; levels: {', '.join(CONFIG_LEVELS)} (groups: /host-groups)",
            errors={"level": ["unknown level"]},
        )
    if level == "global":
        if target:
            raise NotFound("the global level has no target", errors={"target": ["none expected"]})
        return "", {}
    if not target:
        raise NotFound(f"the {level} level needs a target", errors={"target": ["missing"]})
    if level == "area":
        return checked(values.parse_name, target, "target"), {}
    if level == "role":
        if target not in ROLE_ORDER:
            raise NotFound(
                f"no role {target!r}; roles: {', '.join(ROLE_ORDER)}",
                errors={"target": ["unknown role"]},
            )
        return target, {}
    machine = find_machine(session, target)
    return target_of(machine.kind, machine.id), {f"{machine.kind}_id": machine.id}


def get_level(session: Session, level: str, target: str | None) -> ConfigData | None:
    stored, _ = level_target(session, level, target)
    return session.scalar(
        select(ConfigData).where(ConfigData.level == level, ConfigData.target == stored)
    )


def put_level(
    session: Session, level: str, target: str | None, data: Mapping[str, Any]
) -> ConfigData:
    """Set a level's classes and data (each replaced if given)."""
    stored, extra = level_target(session, level, target)
    row = session.scalar(
        select(ConfigData).where(ConfigData.level == level, ConfigData.target == stored)
    )
    if row is None:
        row = ConfigData(level=level, target=stored, classes={}, data={}, **extra)
        session.add(row)
    if "classes" in data:
        row.classes = parse_classes(data["classes"])
    if "data" in data:
        row.data = parse_data(data["data"])
    session.flush()
    return row


def delete_level(session: Session, level: str, target: str | None) -> None:
    row = get_level(session, level, target)
    if row is None:
        raise NotFound(f"the {level} level {target or ''} holds no data".replace("  ", " "))
    session.delete(row)
    session.flush()


def level_label(row: ConfigData) -> dict[str, Any]:
    """How the API shows a config_data row: level and target as a person names them."""
    target: str | None = row.target or None
    if row.node is not None:
        target = row.node.fqdn
    elif row.vm is not None:
        target = row.vm.hostname
    return {"level": row.level, "target": target}
