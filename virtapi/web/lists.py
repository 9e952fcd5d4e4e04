"""Sorting and filter controls for the VM list, and the search box that jumps to an object.

Filters are the API's own (``VMS.filters``: same parameters, same parsing, same SQL), so
``/vms?state=running&hypervisor=hv01…`` means in the browser what it means in the API.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from marshmallow import ValidationError
from sqlalchemy import ColumnElement, select

from ..api.compute import VMS
from ..api.filters import query_schema
from ..db import get_session
from ..models import Ipv4Address, Ipv4Network, VmInterface, VmState
from ..models import Vm as VmModel
from ..services import search as search_service
from . import bp, login

# ?sort=<key> (ascending) or ?sort=-<key>: the column a header link sorts by.
SORTS = {
    "hostname": VmModel.hostname,
    "customer": VmModel.customer_id,
    "cores": VmModel.cores,
    "ram": VmModel.ram,
    "state": VmModel.actual_state_id,
    "host": VmModel.node_method_id,
}
STAFF_FILTERS = ("customer_id", "hypervisor", "network")


def sort_order() -> tuple[str, list[Any]]:
    raw = (request.args.get("sort") or "hostname")[:20]
    key = raw.removeprefix("-")
    if key not in SORTS:
        abort(400, f"sort by one of {', '.join(SORTS)} (prefix - for descending), not {key!r}")
    column = SORTS[key]
    return raw, [column.desc() if raw.startswith("-") else column.asc()]


API_FILTERS = ("state", "customer_id", "hypervisor")
# The API's query schema for these filters: the same parsing and messages as /api/v1/vms.
_QUERY = query_schema("WebVms", {k: VMS.filters[k] for k in API_FILTERS})


def vm_filters(staff: bool) -> tuple[dict[str, str], list[ColumnElement[bool]]]:
    """The filters in the query string: their text (for the controls) and their conditions."""
    names = ("state", *STAFF_FILTERS) if staff else ("state",)
    chosen = {n: request.args.get(n, "").strip()[:253] for n in names}
    if staff and not chosen["customer_id"]:
        chosen["customer_id"] = request.args.get("customer", "").strip()[:40]  # older spelling
    chosen = {k: v for k, v in chosen.items() if v}
    hostname = request.args.get("hostname", "").strip()[:253]
    if hostname:
        chosen["hostname"] = hostname
    try:
        args = _QUERY().load({k: v for k, v in chosen.items() if k in API_FILTERS})
    except ValidationError as exc:
        field, messages = next(iter(exc.messages.items()))  # type: ignore[union-attr]
        label = "customer" if field == "customer_id" else field
        hint = " must be a positive customer id" if field == "customer_id" else ""
        abort(400, f"{label}{hint}: {' '.join(messages)} (not {chosen[field][:40]!r})")
    conditions = [VMS.filters[k].clause(v) for k, v in args.items() if k in API_FILTERS]
    if hostname:
        # Part of a name, as typed in the search box; the API's hostname filter is exact.
        conditions.append(VmModel.hostname.contains(hostname.lower(), autoescape=True))
    if "network" in chosen:
        network = chosen["network"]
        if not network.isdigit() or len(network) > 18:
            abort(400, f"network must be a network id, not {network[:40]!r}")
        addresses = VmInterface.ipv4_addresses.any(Ipv4Address.network_id == int(network))
        conditions.append(VmModel.interfaces.any(addresses))
    return chosen, conditions


def filter_choices(staff: bool) -> dict[str, Any]:
    session = get_session()
    states = session.scalars(select(VmState.name).order_by(VmState.name)).all()
    networks = (
        session.scalars(select(Ipv4Network).order_by(Ipv4Network.id).limit(500)).all()
        if staff
        else []
    )
    return {"states": states, "networks": networks}


@bp.get("/search")
@login.signed_in
def search() -> Any:
    me = login.principal()
    q = request.args.get("q", "")
    hit = search_service.find(get_session(), q, me.customer_id if me.is_customer else None)
    if hit is None:
        return redirect(url_for("web.vms", hostname=q.strip()[:253] or None, notfound=1))
    if hit.kind == "vm":
        return redirect(url_for("web.vm", vm_uuid=hit.key))
    if hit.kind == "node":
        return redirect(url_for("web.node", node_id=hit.key))
    if hit.kind == "vlan":
        return redirect(url_for("web.vlans", vni=hit.key))
    return redirect(url_for("web.vms", hostname=hit.key))
