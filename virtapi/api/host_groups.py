"""Host groups and configuration data (issue 18); operators and admins only.

- ``/api/v1/host-groups``: groups in a tree with members, classes and data (CRUD).
- ``/api/v1/config-data/global``, ``/config-data/<level>/<target>`` (area, role, node): the
  other levels' classes and data (GET, PUT, DELETE); ``/config-data`` lists them.
- ``/api/v1/nodes/<certname>/explain[?key=]``: each level's contribution and the winner.

Customers get 404 on all of it: they never learn that groups or data exist.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import values
from ..auth import OPERATORS, current_principal, require
from ..db import get_session
from ..models import ConfigData, HostGroup, HostGroupMember
from ..services import config_data
from ..services.errors import NotFound
from . import crud
from .etag import etag_of
from .fields import name_field, ref_id, string, updating, with_rule
from .filters import Filter

blp = Blueprint(
    "host_groups",
    __name__,
    url_prefix="/api/v1",
    description="Host groups and configuration data (operators and admins)",
)


@blp.before_request
def _hide_from_customers() -> None:
    # 401 without a token as everywhere; a customer learns nothing, not even that groups exist.
    if current_principal().is_customer:
        raise NotFound("no such resource")


_KEYS = (
    f"Keys: Puppet class names ({values.PUPPET_CLASS_PATTERN}), parameters "
    f"({values.PARAMETER_PATTERN}), Hiera keys ({values.HIERA_KEY_PATTERN}); the virtapi "
    f"namespace is reserved. Values: JSON, at most {values.CONFIG_VALUE_MAX_BYTES} bytes and "
    f"{values.CONFIG_VALUE_MAX_DEPTH} levels, no '%{{' unless written '%%{{'. "
    '{"__remove__": true} removes what a lower level set.'
)


# OpenAPI 3.0 cannot state a pattern for an object's keys, nor value size, depth or Hiera's
# interpolation: stated rules, so a well-formed request refused for them is documented.
CLASSES_RULE = "class names match x-key-pattern; parameter names are Puppet parameter names"
DATA_RULE = "keys match x-key-pattern; values at most 64 KiB and 16 levels; no unescaped %{"


def classes_field(**kwargs: Any) -> fields.Field:
    return with_rule(_classes_field(**kwargs), CLASSES_RULE)


def data_field(**kwargs: Any) -> fields.Field:
    return with_rule(_data_field(**kwargs), DATA_RULE)


def _classes_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        values=fields.Dict(),
        metadata={
            "description": "Puppet class → parameters. " + _KEYS,
            "x-key-pattern": values.PUPPET_CLASS_PATTERN,
        },
        **kwargs,
    )


def _data_field(**kwargs: Any) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Hiera key → JSON value. " + _KEYS,
            "x-key-pattern": values.HIERA_KEY_PATTERN,
        },
        **kwargs,
    )


class HostGroupSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    parent_id = fields.Integer(required=True, allow_none=True)
    depth = fields.Integer(required=True, metadata={"description": "0 for a root group"})
    classes = classes_field(required=True)
    data = data_field(required=True)
    members = fields.Function(
        config_data.member_certnames,
        required=True,
        metadata={"type": "array", "items": {"type": "string"}},
    )


class HostGroupCreateSchema(Schema):
    name = name_field(required=True)
    description = string(1024, load_default="")
    parent_id = ref_id(
        allow_none=True,
        load_default=None,
        metadata={
            "description": f"the parent group; trees nest {config_data.MAX_GROUP_DEPTH} deep"
        },
    )
    classes = classes_field(load_default=dict)
    data = data_field(load_default=dict)
    members = fields.List(
        fields.String(),
        load_default=list,
        metadata={"description": "node fqdns and VM hostnames; replaces the list on PATCH"},
    )


def _create(session: Any, principal: Any, data: dict[str, Any]) -> HostGroup:
    return config_data.save_group(session, None, data)


def _update(session: Any, principal: Any, group: HostGroup, data: dict[str, Any]) -> None:
    config_data.save_group(session, group, data)


HOST_GROUPS = crud.register(
    blp,
    crud.Resource(
        path="host-groups",
        model=HostGroup,
        title="host group",
        schema=HostGroupSchema,
        create_schema=HostGroupCreateSchema,
        update_schema=updating(HostGroupCreateSchema),
        filters={
            "name": Filter(string(64), HostGroup.name),
            "parent_id": Filter(ref_id(), HostGroup.parent_id),
        },
        read_roles=OPERATORS,
        write_roles=OPERATORS,
        options=(
            selectinload(HostGroup.members).selectinload(HostGroupMember.node),
            selectinload(HostGroup.members).selectinload(HostGroupMember.vm),
        ),
        create=_create,
        update=_update,
        delete=lambda session, principal, group: config_data.delete_group(session, group),
        description=(
            "Groups of nodes and VMs in a tree, with Puppet classes, parameters and Hiera data "
            "merged into every member's node document (global < area < role < groups root to "
            "leaf < node). Two groups at the same depth setting the same key for a common "
            "member are refused (409). Filters: name, parent_id."
        ),
    ),
)


# --- the other levels -------------------------------------------------------------------------


class ConfigDataSchema(Schema):
    level = fields.String(required=True)
    target = fields.String(required=True, allow_none=True)
    classes = classes_field(required=True)
    data = data_field(required=True)


class ConfigDataPutSchema(Schema):
    classes = classes_field()
    data = data_field()


def _dump(row: ConfigData) -> dict[str, Any]:
    return {**config_data.level_label(row), "classes": row.classes, "data": row.data}


@blp.route("/config-data")
class ConfigDataList(MethodView):
    @require(OPERATORS)
    @blp.response(200, ConfigDataSchema(many=True))
    @crud.document_errors(blp, 401, 403)
    def get(self) -> Response:
        """Every global, area, role and node level that holds classes or data"""
        rows = get_session().scalars(select(ConfigData).order_by(ConfigData.id)).all()
        return crud.json_response([_dump(r) for r in rows])


class ConfigDataItem(MethodView):
    @require(OPERATORS)
    @blp.response(200, ConfigDataSchema)
    @crud.document_errors(blp, 401, 403, 404)
    def get(self, level: str, target: str | None = None) -> Response:
        """One level's classes and data

        Levels: ``global`` (no target), ``area/<area>``, ``role/<role>`` (hypervisor,
        ceph_osd, ceph_mon, vm), ``node/<certname>`` (node fqdn or VM hostname).
        """
        row = config_data.get_level(get_session(), level, target)
        if row is None:
            raise NotFound(f"the {level} level {target or ''} holds no data".strip())
        body = _dump(row)
        return crud.json_response(body, 200, {"ETag": etag_of(body)})

    @require(OPERATORS)
    @blp.arguments(ConfigDataPutSchema, unknown=RAISE)
    @blp.response(200, ConfigDataSchema)
    @crud.document_errors(blp, 401, 403, 404, 422)
    def put(self, data: dict[str, Any], level: str, target: str | None = None) -> Response:
        """Set a level's classes and/or data (each given one replaced whole)"""
        session = get_session()
        row = config_data.put_level(session, level, target, data)
        session.commit()
        body = _dump(row)
        return crud.json_response(body, 200, {"ETag": etag_of(body)})

    @require(OPERATORS)
    @blp.response(204)
    @crud.document_errors(blp, 401, 403, 404)
    def delete(self, level: str, target: str | None = None) -> Response:
        """Remove a level's classes and data"""
        session = get_session()
        config_data.delete_level(session, level, target)
        session.commit()
        return Response(status=204)


blp.route("/config-data/<string:level>", endpoint="config_data_level")(ConfigDataItem)
blp.route("/config-data/<string:level>/<string:target>", endpoint="config_data_target")(
    ConfigDataItem
)


# --- explain ----------------------------------------------------------------------------------


class ExplainQuerySchema(Schema):
    key = fields.String(
        metadata={"description": "one key (Hiera key or <class>::<param>); all keys without it"}
    )


@blp.route("/nodes/<string:certname>/explain")
class Explain(MethodView):
    @require(OPERATORS)
    @blp.arguments(ExplainQuerySchema, location="query", unknown=RAISE)
    @blp.alt_response(200, success=True, description="contributions by level and the winner")
    @crud.document_errors(blp, 401, 403, 404, 422)
    def get(self, args: dict[str, Any], certname: str) -> Response:
        """Explain the merged configuration data of a node or VM

        Each level (global, area, role, groups root to leaf, node) and what it sets, lowest
        first, and which level won, like ``puppet lookup --explain``.
        """
        return crud.json_response(config_data.explain(get_session(), certname, args.get("key")))
