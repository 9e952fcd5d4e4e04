"""Operator forms for the inventory: nodes and their roles, networks, addresses, VLANs, pools,
images, quotas; migrating VMs and marking nodes for maintenance.

Each form is made from the API resource's own create/update schema, and posts through
``forms.create/update/delete`` to the resource's own hooks: what the API accepts, the form
accepts, with the same messages. Tokens stay API/CLI only.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from marshmallow import Schema, fields
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from ..api import crud
from ..api.compute import QUOTAS
from ..api.host_groups import HOST_GROUPS
from ..api.installs import IMAGES
from ..api.network import ADDRESSES, NETWORKS, VLANS
from ..api.nodes import CEPH_MON_NODES, CEPH_OSD_NODES, NODES, VIRT_NODES
from ..api.operations import MigrateSchema, overcommit
from ..api.pagination import paginate
from ..api.vocabularies import CEPH_POOLS
from ..auth import OPERATORS
from ..db import get_session
from ..services import placement
from ..services.lookups import vm_by_uuid
from . import bp, forms, login

RESOURCES: dict[str, crud.Resource] = {
    r.path: r
    for r in (
        NODES,
        VIRT_NODES,
        CEPH_OSD_NODES,
        CEPH_MON_NODES,
        NETWORKS[4],
        NETWORKS[6],
        ADDRESSES[4],
        ADDRESSES[6],
        VLANS,
        CEPH_POOLS,
        IMAGES,
        QUOTAS,
        HOST_GROUPS,  # issue 18
    )
}
PAGE = 50


def _operator() -> None:
    if login.principal().role not in OPERATORS:
        abort(403, "These forms are for operators.")


def _resource(path: str) -> crud.Resource:
    if path not in RESOURCES:
        abort(404, f"no inventory page {path!r}")
    return RESOURCES[path]


def _kind(field: fields.Field) -> str:
    if isinstance(field, fields.Boolean):
        return "checkbox"
    if isinstance(field, fields.List):
        return "list"
    if isinstance(field, fields.Integer):
        return "number"
    if isinstance(field, fields.Dict):
        return "json"  # host groups' classes and data (issue 18)
    if isinstance(field, fields.Nested):
        return "skip"
    return "text"


def form_fields(schema: type[Schema] | None) -> list[tuple[str, str, str, bool]]:
    """(name, input kind, description, required) for each field a form shows."""
    if schema is None:
        return []
    out = []
    for name, field in schema._declared_fields.items():
        kind = _kind(field)
        if kind != "skip" and not field.dump_only:
            out.append((name, kind, field.metadata.get("description", ""), field.required))
    return out


def _value(field: fields.Field, raw: str) -> Any:
    if isinstance(field, fields.List):
        items = [item.strip() for item in raw.split(",") if item.strip()]
        inner = field.inner
        return [forms.integer({"v": i}, "v") if isinstance(inner, fields.Integer) else i
                for i in items]  # fmt: skip
    if isinstance(field, fields.Integer):
        return forms.integer({"v": raw}, "v")
    if isinstance(field, fields.Dict):
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # the schema rejects it next to the field
    return raw


def body_from(schema: type[Schema], form: Any, *, updating: bool) -> dict[str, Any]:
    """The JSON body the API would get: filled fields only; checkboxes always when editing."""
    body: dict[str, Any] = {}
    for name, field in schema._declared_fields.items():
        kind = _kind(field)
        if kind == "skip":
            continue
        if kind == "checkbox":
            if updating or form.get(name):
                body[name] = bool(form.get(name))
            continue
        raw = (form.get(name) or "").strip()
        if raw or (updating and kind == "list" and f"{name}" in form):
            body[name] = _value(field, raw)
    return body


def _form_values(resource: crud.Resource, obj: Any) -> MultiDict:
    """An object's current values as form text (lists comma-separated)."""
    data = resource.schema().dump(obj)
    values: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, list):
            items = [v.get("name", v.get("id")) if isinstance(v, dict) else v for v in value]
            values[key] = ", ".join(str(v) for v in items)
        elif isinstance(value, bool):
            values[key] = "1" if value else ""
        elif isinstance(value, dict):
            values[key] = json.dumps(value, indent=1, sort_keys=True)
        elif value is not None:
            values[key] = str(value)
    return MultiDict(values)


def _rows(session: Session, resource: crud.Resource, page: int) -> dict[str, Any]:
    stmt = crud.visible(resource, login.principal()).options(*resource.options)
    result = paginate(session, stmt.order_by(resource.pk), PAGE, (page - 1) * PAGE)
    result["results"] = resource.schema(many=True).dump(result["results"])
    return result


@bp.get("/inventory")
@login.signed_in
def inventory_index() -> Any:
    _operator()
    return render_template("inventory.html", resources=RESOURCES)


@bp.route("/inventory/<path>", methods=["GET", "POST"])
@login.signed_in
def inventory_list(path: str) -> Any:
    _operator()
    resource = _resource(path)
    outcome = forms.Outcome()
    if request.method == "POST":
        login.check_csrf()
        if resource.create_schema is None:
            abort(405)
        outcome = forms.create(resource, body_from(resource.create_schema, request.form,
                                                   updating=False))  # fmt: skip
        if outcome.ok:
            return redirect(url_for("web.inventory_list", path=path), code=303)
    page = min(max(1, forms.integer(request.args, "page") or 1), 10**6) \
        if str(request.args.get("page", "1")).isdigit() else 1  # fmt: skip
    return render_template(
        "inventory_list.html",
        resource=resource,
        listing=_rows(get_session(), resource, page),
        page=page,
        page_size=PAGE,
        fields=form_fields(resource.create_schema),
        outcome=outcome,
        form=request.form,
    ), (200 if outcome.ok else forms.FORM_ERROR_STATUS)


def _edit_page(resource: crud.Resource, key: int, outcome: forms.Outcome) -> Any:
    session = get_session()
    session.expire_all()
    obj = crud.load(session, resource, login.principal(), key)
    current = _form_values(resource, obj)
    return render_template(
        "inventory_edit.html",
        resource=resource,
        obj_id=key,
        current=resource.schema().dump(obj),
        etag=forms.etag(resource, obj),
        fields=form_fields(resource.update_schema),
        outcome=outcome,
        form=current if outcome.stale or outcome.ok else request.form,
    ), (200 if outcome.ok else 409 if outcome.stale else forms.FORM_ERROR_STATUS)


@bp.route("/inventory/<path>/<int:key>", methods=["GET", "POST"])
@login.signed_in
def inventory_edit(path: str, key: int) -> Any:
    _operator()
    resource = _resource(path)
    if request.method == "GET":
        return _edit_page(resource, key, forms.Outcome())
    login.check_csrf()
    if resource.update_schema is None:
        abort(405)
    body = body_from(resource.update_schema, request.form, updating=True)
    outcome = forms.update(resource, key, body, request.form.get("etag", ""))
    if outcome.ok:
        return redirect(url_for("web.inventory_edit", path=path, key=key), code=303)
    return _edit_page(resource, key, outcome)


@bp.post("/inventory/<path>/<int:key>/delete")
@login.signed_in
def inventory_delete(path: str, key: int) -> Any:
    _operator()
    login.check_csrf()
    resource = _resource(path)
    outcome = forms.delete(resource, key, request.form.get("etag") or None)
    if outcome.ok:
        return redirect(url_for("web.inventory_list", path=path), code=303)
    return _edit_page(resource, key, outcome)


@bp.post("/nodes/<int:node_id>/state")
@login.signed_in
def node_state(node_id: int) -> Any:
    """Maintenance on and off: the node's state through the nodes resource, as PATCH does."""
    _operator()
    login.check_csrf()
    state = request.form.get("state", "")
    outcome = forms.update(NODES, node_id, {"state": state}, None)
    if outcome.ok:
        return redirect(url_for("web.node", node_id=node_id), code=303)
    return _edit_page(NODES, node_id, outcome)


@bp.post("/vms/<vm_uuid>/migrate")
@login.signed_in
def vm_migrate(vm_uuid: str) -> Any:
    """Place or move a VM: what POST /api/v1/vms/<uuid>/migrate does."""
    from .vm_forms import done

    _operator()
    login.check_csrf()
    body = forms.present(
        hypervisor=forms.text(request.form, "hypervisor"), method=forms.text(request.form, "method")
    )

    def work(session: Session) -> Any:
        data = MigrateSchema().load(body)
        vm = vm_by_uuid(session, vm_uuid)
        return placement.migrate(session, vm, overcommit(), data["hypervisor"], data["method"])

    return done(vm_uuid, forms.run(work))
