"""The drift page: what GET /api/v1/drift says, for operators (issue 12)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template

from ..api.drift import drift_report
from . import bp, login


@bp.get("/drift")
@login.signed_in
def drift() -> Any:
    if login.principal().is_customer:
        # A hypervisor's document lists every customer's VMs.
        abort(403, "This page is for operators; customers see their own VMs.")
    return render_template("drift.html", **drift_report())
