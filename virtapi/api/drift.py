"""GET /api/v1/drift: hosts that have not applied their current node document, and VMs
whose actual state is not the requested one (services/drift.py)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from ..auth import READERS, require
from ..confmgmt import node_document
from ..db import get_read_session
from ..services import backups, drift
from ..services.errors import NotFound
from .fields import query_int
from .pagination import DEFAULT_LIMIT, MAX_LIMIT

blp = Blueprint(
    "drift",
    __name__,
    url_prefix="/api/v1",
    description="Drift: applied versus current node documents, actual versus requested state",
)


class DocumentDriftSchema(Schema):
    certname = fields.String(required=True)
    applied = fields.String(required=True, metadata={"description": "hash the host reported"})
    current = fields.String(
        required=True, allow_none=True, metadata={"description": "X-Virtapi-Document now"}
    )
    applied_at = fields.DateTime(required=True)
    since = fields.DateTime(required=True, metadata={"description": "first change after it"})
    patch = fields.List(
        fields.Dict(),
        required=True,
        allow_none=True,
        metadata={"description": "RFC 6902 patch applied → current, if the applied one is kept"},
    )


class StateDriftSchema(Schema):
    hostname = fields.String(required=True)
    requested_state = fields.String(required=True)
    actual_state = fields.String(required=True)
    since = fields.DateTime(required=True)


class BackupDriftSchema(Schema):
    schedule_id = fields.Integer(required=True)
    vm_id = fields.Integer(required=True)
    hostname = fields.String(required=True)
    storage_id = fields.Integer(
        required=True, allow_none=True, metadata={"description": "null: all the VM's disks"}
    )
    on_calendar = fields.String(required=True)
    store = fields.String(required=True)
    last_success_at = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "oldest latest success of its disks; null: never"},
    )
    due_at = fields.DateTime(
        required=True, metadata={"description": "when the next success was expected"}
    )


class HostDriftSchema(Schema):
    certname = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "node or vm"})
    state = fields.String(
        required=True, metadata={"description": "in sync, drifted, stale or never reported"}
    )
    since = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "drifted: the first change after its last applied document"},
    )
    applied = fields.String(required=True, allow_none=True)
    reported_at = fields.DateTime(required=True, allow_none=True)


class HostDriftPageSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "matching hosts"})
    results = fields.List(fields.Nested(HostDriftSchema), required=True)


class DriftArgs(Schema):
    state = fields.String(
        validate=validate.OneOf(drift.STATES),
        metadata={"description": "hosts: only those in this state"},
    )
    kind = fields.String(
        validate=validate.OneOf(drift.KINDS), metadata={"description": "hosts: node or vm"}
    )
    sort = fields.String(
        load_default="-since",
        validate=validate.OneOf([f"{d}{c}" for c in drift.SORTS for d in ("", "-")]),
        metadata={"description": "hosts: order by this column, - for descending"},
    )
    limit = query_int(1, MAX_LIMIT, load_default=DEFAULT_LIMIT)
    offset = query_int(0, load_default=0)


class DriftSchema(Schema):
    hosts = fields.Nested(HostDriftPageSchema, required=True)
    documents = fields.List(fields.Nested(DocumentDriftSchema), required=True)
    vm_states = fields.List(fields.Nested(StateDriftSchema), required=True)
    backups = fields.List(fields.Nested(BackupDriftSchema), required=True)


def current_document(certname: str) -> drift.Current | None:
    """certname's document now, from the per-process cache; None if gone."""
    try:
        entry = node_document(certname)
    except NotFound:
        return None
    return drift.Current(entry.hash, entry.document, entry.version)


def host_page(args: dict[str, Any]) -> dict[str, Any]:
    """One page of every host's drift state ({"count", "results"}): the API's ``hosts`` and
    the /drift page's list, from the same query arguments (state, kind, sort, limit, offset)."""
    sort = args.get("sort") or "-since"
    count, hosts = drift.host_drift(
        get_read_session(),
        state=args.get("state"),
        kind=args.get("kind"),
        order=[(sort.removeprefix("-"), sort.startswith("-"))],
        limit=args.get("limit", DEFAULT_LIMIT),
        offset=args.get("offset", 0),
    )
    return {"count": count, "results": hosts}


def drift_report(args: dict[str, Any] | None = None) -> dict[str, Any]:
    session = get_read_session()
    return {
        "hosts": host_page(args or {}),
        "documents": drift.document_drift(session, current_document),
        "vm_states": drift.state_drift(session),
        "backups": backups.overdue_schedules(session),
    }


@blp.route("/drift")
class Drift(MethodView):
    @require(READERS)
    @blp.arguments(DriftArgs, location="query", unknown=RAISE, as_kwargs=False)
    @blp.response(200, DriftSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Hosts whose applied document is not the current one; VMs not in the requested state

        A host reports the ``X-Virtapi-Document`` hash it applied as ``applied_document``
        (POST /nodes/<fqdn>/report, POST /vms/<uuid>/report). Newest drift first; ``patch``
        turns the applied document into the current one when virtapi still has it.
        ``backups``: schedules whose last successful backup (of all their disks) is older
        than the calendar allows: the next run after it (``due_at``) plus 6 hours of grace has
        passed. ``hosts``: every node and VM with its state (in sync, drifted, stale: in sync
        but silent for 2 hours, never reported), filtered, sorted and paged like the /drift page
        (one service function, computed in SQL without building documents). Reader role and up.
        """
        return drift_report(args)
