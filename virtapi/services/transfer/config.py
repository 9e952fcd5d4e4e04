"""Host groups, their members and the other levels' configuration data in the inventory
document (issue 18): section ``config``.

    config:
      levels:       [{level: global|area|role|node, target: …|null, classes: {…}, data: {…}}]
      host_groups:  [{name, description, parent: <name>|null, classes, data, members: [certname]}]

Written after the rest of the document (members name its nodes and VMs) through the same
service functions as the API (services/config_data.py), in the import's one transaction: a
refused entry rolls the whole import back. Parents come before their children on export; on
import any order works.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...models import ConfigData, HostGroup, HostGroupMember
from .. import config_data
from ..errors import DomainError, InvalidInput


def export_config(session: Session) -> dict[str, Any]:
    levels = [
        {**config_data.level_label(row), "classes": row.classes, "data": row.data}
        for row in session.scalars(select(ConfigData).order_by(ConfigData.id))
    ]
    groups = session.scalars(
        select(HostGroup)
        .options(
            selectinload(HostGroup.members).selectinload(HostGroupMember.node),
            selectinload(HostGroup.members).selectinload(HostGroupMember.vm),
        )
        .order_by(HostGroup.depth, HostGroup.name)
    ).all()
    names = {g.id: g.name for g in groups}
    return {
        "levels": levels,
        "host_groups": [
            {
                "name": g.name,
                "description": g.description,
                "parent": names.get(g.parent_id) if g.parent_id else None,
                "classes": g.classes,
                "data": g.data,
                "members": config_data.member_certnames(g),
            }
            for g in groups
        ],
    }


def import_config(session: Session, config: dict[str, Any]) -> dict[str, int]:
    """Write the section; errors name the entry (``config.host_groups[2].data``)."""
    for i, level in enumerate(config["levels"]):
        with _at(f"config.levels[{i}]"):
            config_data.put_level(session, level["level"], level["target"], level)
    groups = config["host_groups"]
    made: dict[str, int] = {}
    # Roots first, then children whose parent exists: any order in the document works.
    pending = list(enumerate(groups))
    while pending:
        ready = [(i, g) for i, g in pending if g["parent"] is None or g["parent"] in made]
        if not ready:
            i, g = pending[0]
            raise InvalidInput(
                f"config.host_groups[{i}].parent: no group {g['parent']!r} in the document "
                "(or the parents form a cycle)",
                errors={f"config.host_groups[{i}].parent": ["unknown group"]},
            )
        for i, g in ready:
            with _at(f"config.host_groups[{i}]"):
                body = {k: g[k] for k in ("name", "description", "classes", "data", "members")}
                body["parent_id"] = made.get(g["parent"]) if g["parent"] else None
                made[g["name"]] = config_data.save_group(session, None, body).id
        pending = [(i, g) for i, g in pending if g["name"] not in made]
    counts = {"config_levels": len(config["levels"]), "host_groups": len(groups)}
    return {what: n for what, n in counts.items() if n}


@contextmanager
def _at(path: str) -> Iterator[None]:
    """Prefix a domain error's field names (and message) with the entry's path."""
    try:
        yield
    except DomainError as exc:
        exc.errors = {f"{path}.{k}": v for k, v in (exc.errors or {}).items()}
        exc.message = f"{path}: {exc.message}"
        raise
