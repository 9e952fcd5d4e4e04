"""Forms for the inventory: nodes and their roles, networks, addresses, VLANs, pools, images,
quotas, Ceph clusters and clients, backup stores (operators); snapshots, backup schedules and
backups (customers too, their own VMs' only); migrating VMs and marking nodes for maintenance.

Each form is made from the API resource's own create/update schema, and posts through
``forms.create/update/delete`` to the resource's own hooks: what the API accepts, the form
accepts, with the same messages. Tokens stay API/CLI only.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from marshmallow import Schema, fields
from sqlalchemy import JSON
from sqlalchemy.orm import ColumnProperty, Session
from werkzeug.datastructures import MultiDict

from ..api import crud
from ..api.backups import BACKUPS, SCHEDULES, STORES
from ..api.ceph import CEPH_CLIENTS, CEPH_CLUSTERS
from ..api.compute import QUOTAS
from ..api.host_groups import HOST_GROUPS
from ..api.installs import IMAGES
from ..api.network import ADDRESSES, NETWORKS, VLANS
from ..api.nodes import CEPH_MON_NODES, CEPH_OSD_NODES, NODES, VIRT_NODES
from ..api.operations import MigrateSchema, overcommit
from ..api.snapshots import SNAPSHOTS
from ..api.vocabularies import CEPH_POOLS
from ..auth import OPERATORS
from ..db import get_session
from ..models import NodeState
from ..models.backups import BACKUP_RESULTS
from ..services import placement
from ..services.lookups import vm_by_uuid
from . import bp, format, forms, list_specs, lists, login

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
        CEPH_CLUSTERS,
        CEPH_CLIENTS,
        STORES,
        SCHEDULES,
        SNAPSHOTS,
        BACKUPS,
    )
}
# Pages customers have too: the API scopes them to their own VMs (another's object is a 404).
CUSTOMER_PAGES = frozenset({SNAPSHOTS.path, SCHEDULES.path, BACKUPS.path})
PAGE = 50
# Byte counts the forms read as "256G" / "512M" (a bare number stays bytes, as in the API).
SIZE_FIELDS = frozenset({"ram", "size", "max_ram", "max_disk", "bytes"})
# Secrets go in, never come out: a password input, never filled in again (Ceph keys).
SECRET_FIELDS = frozenset({"key"})


def _operator() -> None:
    if login.principal().role not in OPERATORS:
        abort(403, "These forms are for operators.")


def _reader(resource: crud.Resource) -> None:
    """The page of ``resource`` for this caller: operators every one, customers and readers
    those the API lets them read (customers: CUSTOMER_PAGES only)."""
    me = login.principal()
    if resource.path not in CUSTOMER_PAGES:
        _operator()
    if me.role not in resource.read_roles:
        abort(403, f"the {me.role} role may not read {resource.path}")


def _resource(path: str) -> crud.Resource:
    if path not in RESOURCES:
        abort(404, f"no inventory page {path!r}")
    return RESOURCES[path]


def _kind(field: fields.Field, name: str = "") -> str:
    if name in SECRET_FIELDS:
        return "secret"
    if isinstance(field, fields.Integer) and (
        name in SIZE_FIELDS or field.metadata.get("description") == "bytes"
    ):
        return "size"
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
        kind = _kind(field, name)
        if kind != "skip" and not field.dump_only:
            out.append((name, kind, field.metadata.get("description", ""), field.required))
    return out


def _value(field: fields.Field, raw: str, kind: str) -> Any:
    if kind == "size":
        return forms.parsed_size(raw)  # bytes when bare; the schema checks the range
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
        kind = _kind(field, name)
        if kind == "skip":
            continue
        if kind == "checkbox":
            if updating or form.get(name):
                body[name] = bool(form.get(name))
            continue
        raw = (form.get(name) or "").strip()
        if raw or (updating and kind == "list" and f"{name}" in form):
            body[name] = _value(field, raw, kind)
    return body


def _form_values(resource: crud.Resource, obj: Any) -> MultiDict:
    """An object's current values as form text (lists comma-separated)."""
    data = resource.schema().dump(obj)
    sizes = size_columns(resource)
    text: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, list):
            items = [v.get("name", v.get("id")) if isinstance(v, dict) else v for v in value]
            text[key] = ", ".join(str(v) for v in items)
        elif isinstance(value, bool):
            text[key] = "1" if value else ""
        elif key in sizes and isinstance(value, int):
            text[key] = format.exact_size(value)
        elif isinstance(value, dict):
            text[key] = json.dumps(value, indent=1, sort_keys=True)
        elif value is not None:
            text[key] = str(value)
    return MultiDict(text)


def size_columns(resource: crud.Resource) -> frozenset[str]:
    """The fields of the resource's representation that count bytes (shown as GiB, MiB)."""
    return frozenset(
        name for name, f in resource.schema._declared_fields.items() if _kind(f, name) == "size"
    )


def _sort_of(model: type, name: str, field: fields.Field) -> Any:
    """The model column a schema field shows, to sort by; None for nested or computed ones."""
    attribute = getattr(model, field.attribute or name, None)
    prop = getattr(attribute, "property", None)
    # JSON has no order in PostgreSQL (facts, settings): shown, not sortable.
    if isinstance(prop, ColumnProperty) and not isinstance(prop.columns[0].type, JSON):
        return attribute
    return None


def _choices(path: str, name: str) -> dict[str, Any]:
    """Selects where the values are few and known: node states and roles."""
    if path == "nodes" and name == "state":
        return {"choices": list_specs.names_of(NodeState)}
    if path == "nodes" and name == "role":
        return {"choices": list_specs.role_choices}
    if path == BACKUPS.path and name == "result":
        return {"choices": lambda _s: [(r, r) for r in BACKUP_RESULTS]}
    return {}


@cache
def list_spec(path: str) -> lists.ListSpec:
    """Columns of the resource's representation (sortable where they are a column of its
    table) and a control per API filter of the resource: the inventory list of ``path``."""
    resource = RESOURCES[path]
    model = resource.model
    columns = tuple(
        lists.Column(name, name.replace("_", " "), _sort_of(model, name, field))
        for name, field in resource.schema._declared_fields.items()
        if not field.load_only
    )
    default = next(c.key for c in columns if c.sort is not None and c.sort.key == resource.pk.key)
    controls = tuple(
        lists.Control.api(name, name.replace("_", " "), f, **_choices(path, name))
        for name, f in resource.filters.items()
    )
    return lists.ListSpec(
        endpoint="web.inventory_list",
        columns=columns,
        default_sort=default,
        tiebreak=(resource.pk,),
        controls=controls,
        page_size=PAGE,
    )


def _rows(session: Session, resource: crud.Resource, listing: lists.Listing) -> list[Any]:
    stmt = crud.visible(resource, login.principal()).options(*resource.options)
    return resource.schema(many=True).dump(listing.fetch(session, stmt))


@bp.get("/inventory")
@login.signed_in
def inventory_index() -> Any:
    _operator()
    return render_template("inventory.html", resources=RESOURCES)


@bp.route("/inventory/<path>", methods=["GET", "POST"])
@login.signed_in
def inventory_list(path: str) -> Any:
    resource = _resource(path)
    _reader(resource)
    outcome = forms.Outcome()
    if request.method == "POST":
        login.check_csrf()
        if resource.create_schema is None:
            abort(405)
        outcome = forms.create(resource, body_from(resource.create_schema, request.form,
                                                   updating=False))  # fmt: skip
        if outcome.ok:
            return redirect(url_for("web.inventory_list", path=path), code=303)
    listing = list_spec(path).read(path=path)
    return render_template(
        "inventory_list.html",
        resource=resource,
        listing=listing,
        rows=_rows(get_session(), resource, listing),
        sizes=size_columns(resource),
        fields=form_fields(resource.create_schema),
        outcome=outcome,
        form=request.form,
    ), (200 if outcome.ok else forms.FORM_ERROR_STATUS)


def edit_page(resource: crud.Resource, key: int, outcome: forms.Outcome) -> Any:
    session = get_session()
    session.expire_all()
    obj = crud.load(session, resource, login.principal(), key)
    current = _form_values(resource, obj)
    return render_template(
        "inventory_edit.html",
        resource=resource,
        obj_id=key,
        current=resource.schema().dump(obj),
        sizes=size_columns(resource),
        etag=forms.etag(resource, obj),
        fields=form_fields(resource.update_schema),
        outcome=outcome,
        form=current if outcome.stale or outcome.ok else request.form,
    ), (200 if outcome.ok else 409 if outcome.stale else forms.FORM_ERROR_STATUS)


@bp.route("/inventory/<path>/<int:key>", methods=["GET", "POST"])
@login.signed_in
def inventory_edit(path: str, key: int) -> Any:
    resource = _resource(path)
    _reader(resource)
    if request.method == "GET":
        return edit_page(resource, key, forms.Outcome())
    login.check_csrf()
    if resource.update_schema is None:
        abort(405)
    body = body_from(resource.update_schema, request.form, updating=True)
    outcome = forms.update(resource, key, body, request.form.get("etag", ""))
    if outcome.ok:
        return redirect(url_for("web.inventory_edit", path=path, key=key), code=303)
    return edit_page(resource, key, outcome)


@bp.post("/inventory/<path>/<int:key>/delete")
@login.signed_in
def inventory_delete(path: str, key: int) -> Any:
    resource = _resource(path)
    _reader(resource)
    login.check_csrf()
    outcome = forms.delete(resource, key, request.form.get("etag") or None)
    if outcome.ok:
        return redirect(url_for("web.inventory_list", path=path), code=303)
    return edit_page(resource, key, outcome)


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
    return edit_page(NODES, node_id, outcome)


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
