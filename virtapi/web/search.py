"""The search box in the header: jumps to the object a hostname, fqdn, UUID, MAC, address or
VNI names (``services.search``), or lists the VMs whose hostname contains the text."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from ..db import get_session
from ..services import search as search_service
from . import bp, login


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
