"""The pages. Thin: each asks services.inventory for its data and renders one template."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..auth import CUSTOMERS_AND_OPERATORS, READERS, resolve_principal
from ..config import current_settings
from ..db import get_session
from ..services import config_data, inventory
from ..services.errors import DomainError, NotFound
from . import admin, bp, changelog, format, list_specs, login, search, vm_forms  # noqa: F401

log = logging.getLogger(__name__)

for _name, _filter in format.FILTERS.items():
    bp.add_app_template_filter(_filter, _name)
bp.add_app_template_global(format.percent, "percent")


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    me = resolve_principal()
    return {
        "me": me,
        "is_staff": me is not None and me.role in READERS,
        "can_write": me is not None and me.role in CUSTOMERS_AND_OPERATORS,
        "csrf_token": login.csrf_token,
    }


@bp.after_request
def _headers(resp: Response) -> Response:
    # Pages hold inventory and customer data: no caching, no framing, nothing from elsewhere.
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "web.static":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, message=message), status


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> tuple[str, int]:
    if isinstance(exc, NotFound):
        return _error_page(404, "Not found", exc.message)
    return _error_page(400, "Cannot show this", exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    if exc.code is None or exc.code < 400:
        return exc
    body, status = _error_page(exc.code, exc.name, exc.description or exc.name)
    headers = {
        name: value
        for name, value in exc.get_response().headers.items()
        if name in ("Retry-After", "Allow")
    }
    return body, status, headers


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> tuple[str, int]:
    log.exception("unhandled error on an HTML page")
    get_session().rollback()
    return _error_page(
        500, "Internal error", "Something went wrong on our side; it has been logged."
    )


def _staff_only() -> None:
    if login.principal().is_customer:
        abort(403, "This page is for operators; customers see their own VMs.")


MAX_ID = 2**63 - 1  # beyond a 64-bit column: SQLite would overflow, PostgreSQL would compare


def _id(raw: str | None) -> int | None:
    """A positive 64-bit integer from a URL, or None for anything else."""
    if raw is None or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


# --- sign in and out ---------------------------------------------------------------------------

bp.add_url_rule("/login", "login", login.login, methods=["GET", "POST"])
bp.add_url_rule("/logout", "logout", login.logout, methods=["POST"])


# --- pages -------------------------------------------------------------------------------------


@bp.get("/")
@login.signed_in
def fleet() -> Any:
    if login.principal().is_customer:
        return redirect(url_for("web.vms"))
    listing = list_specs.FLEET_LIST.read()
    page, hypervisors = inventory.fleet(get_session(), listing)
    listing.total = page.total
    totals = {
        "hypervisors": len(hypervisors),
        "cores": sum(u.cores for u in hypervisors),
        "used_cores": sum(u.used_cores for u in hypervisors),
        "ram": sum(u.ram for u in hypervisors),
        "used_ram": sum(u.used_ram for u in hypervisors),
        "local": sum(u.local_storage_bytes for u in hypervisors),
        "used_local": sum(u.used_local_bytes for u in hypervisors),
        "vms": sum(u.vm_count for u in hypervisors),
    }
    return render_template(
        "fleet.html",
        nodes=page.rows,
        listing=listing,
        totals=totals,
        cpu_overcommit=current_settings().cpu_overcommit,
        ram_overcommit=current_settings().ram_overcommit,
    )


@bp.get("/nodes/<node_id>")
@login.signed_in
def node(node_id: str) -> Any:
    _staff_only()
    key = _id(node_id)
    if key is None:
        raise NotFound(f"no node with id {node_id}")
    detail = inventory.node_detail(get_session(), key)
    # Issue 18: what each level contributes to this node's configuration data.
    explained = config_data.explain(get_session(), detail.node.fqdn)
    return render_template(
        "node.html", node=detail.node, hv=detail.usage, vms=detail.vms, explained=explained
    )


@bp.get("/vms")
@login.signed_in
def vms() -> Any:
    me = login.principal()
    staff = not me.is_customer
    listing = list_specs.VM_LIST.read(staff=staff)
    result = inventory.list_vms(
        get_session(),
        customer_id=None if staff else me.customer_id,
        limit=listing.limit,
        offset=listing.offset,
        conditions=listing.where(),
        order_by=listing.order(),
    )
    listing.total = result.total
    return render_template(
        "vms.html",
        listing=listing,
        result=result,
        customer=listing.chosen.get("customer_id") if staff else None,
        notfound=bool(request.args.get("notfound")),
    )


@bp.get("/vms/<vm_uuid>")
@login.signed_in
def vm(vm_uuid: str) -> Any:
    return vm_forms.render_vm(vm_uuid)


@bp.get("/networks")
@login.signed_in
def networks() -> Any:
    _staff_only()
    listing = list_specs.NETWORK_LIST.read()
    version = listing.values.get("version")
    page = inventory.network_usage(get_session(), listing, (version,) if version else (4, 6))
    listing.total = page.total
    return render_template("networks.html", networks=page.rows, listing=listing)


@bp.get("/changes")
@login.signed_in
def changes() -> Any:
    me = login.principal()
    listing = list_specs.CHANGE_LIST.read(staff=not me.is_customer)
    page = inventory.changes(
        get_session(),
        listing,
        customer_id=me.customer_id if me.is_customer else None,
        before_id=_id(request.args.get("before")),  # links of older versions of this page
    )
    listing.total = page.total
    return render_template(
        "changes.html", rows=changelog.present(get_session(), page.rows, me), listing=listing
    )
