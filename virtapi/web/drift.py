"""The drift page: what GET /api/v1/drift says, for operators (issues 12, 14).

The host list is ``services.drift.host_drift`` (SQL, no document built), the same function the
API calls; only a host's own page builds its document, to show the patch."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template
from marshmallow import fields, validate

from ..api.drift import host_page
from ..config import current_settings
from ..db import get_read_session
from ..models import AppliedDocument
from ..services import backups, json_patch
from ..services import drift as service
from ..services.node_document import build_node_document, document_hash
from . import bp, login
from .lists import Column, Control, ListSpec

DRIFT = ListSpec(
    endpoint="web.drift",
    columns=(
        Column("certname", "Host", "certname"),
        Column("kind", "Kind", "kind"),
        Column("state", "State", "state"),
        Column("since", "Since", "since"),
        Column("applied", "Applied", "applied"),
        Column("reported_at", "Last report", "reported_at"),
    ),
    controls=(
        Control(
            "state",
            "State",
            None,
            fields.String(validate=validate.OneOf(service.STATES)),
            choices=lambda _s: [(s, s) for s in service.STATES],
        ),
        Control(
            "kind",
            "Kind",
            None,
            fields.String(validate=validate.OneOf(service.KINDS)),
            choices=lambda _s: [("node", "node"), ("vm", "VM")],
        ),
    ),
    default_sort="-since",
)


# The newest of the VMs not in their requested state; the API lists them all.
VM_STATES_SHOWN = 50


def _staff_only() -> None:
    if login.principal().is_customer:
        # A hypervisor's document lists every customer's VMs.
        abort(403, "This page is for operators; customers see their own VMs.")


@bp.get("/drift")
@login.signed_in
def drift() -> Any:
    _staff_only()
    listing = DRIFT.read()  # an unknown state or kind is a 400 there, like any bad filter
    args = {**listing.values, "sort": listing.sort}
    hosts = host_page({**args, "limit": listing.limit, "offset": listing.offset})
    listing.total = hosts["count"]
    session = get_read_session()
    return render_template(
        "drift.html",
        listing=listing,
        hosts=hosts["results"],
        vm_states=service.state_drift(session, limit=VM_STATES_SHOWN),
        vm_states_shown=VM_STATES_SHOWN,
        backups=backups.overdue_schedules(session),
    )


@bp.get("/drift/<path:certname>")
@login.signed_in
def drift_host(certname: str) -> Any:
    """One host: its applied and current document hashes and the patch between them."""
    _staff_only()
    session = get_read_session()
    row = session.get(AppliedDocument, certname)
    # Built here rather than through the document cache: one page, and the cache's own
    # sync statement would be one too many for the 20-statement budget.
    current = build_node_document(
        session, certname, default_environment=current_settings().puppet_environment
    )
    if row is None and current is None:
        abort(404, f"no node or VM is called {certname!r}")
    patch = None
    if row is not None and row.document is not None and current is not None:
        patch = json_patch.diff(row.document, current)
    return render_template(
        "drift_host.html",
        certname=certname,
        row=row,
        current=current and document_hash(current),
        patch=patch,
    )
