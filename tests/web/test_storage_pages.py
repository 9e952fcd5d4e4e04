"""HTML pages for snapshots, backup schedules, backups and restores (customers: their own VMs'
only) and for Ceph clusters and clients (operators; a key is never shown, only whether it is
set): lists that sort, filter and page, forms through the API's own hooks (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import H, db_of, vm_id
from tests.support.ceph import cephx_key, with_secret_key
from tests.support.queries import statements_per_path
from tests.web import test_views as test_web
from tests.web.test_lists import _column
from tests.web.test_views import csrf_of, login, page
from virtapi.services import tokens

signed_in = test_web.signed_in
FSID = "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11"


def _post(client: Any, path: str, form: dict[str, Any], at: str | None = None) -> Any:
    """Post ``form`` with the CSRF token of the page ``at`` (default: ``path``)."""
    csrf = csrf_of(client.get(at or path).text)
    return client.post(path, data={**form, "csrf": csrf})


def _disk(client: Any, headers: dict[str, str], vm: int) -> int:
    return client.get(f"/api/v1/storage?vm_id={vm}", headers=headers).json["results"][0]["id"]


def _backup(app: Any, client: Any, api_tokens: Any, vm: str = "web1") -> tuple[int, int]:
    """(schedule id, backup id): a schedule on ``vm`` and one successful run a host reported."""
    op, host = H(api_tokens.operator), H(api_tokens.reader)
    store = {"name": "nfs1", "kind": "path", "target": "/srv/backups"}
    assert client.post("/api/v1/backup-stores", json=store, headers=op).status_code in (201, 409)
    body = {"vm_id": vm_id(app, vm), "store": "nfs1", "on_calendar": "daily", "retention": 3}
    sid = client.post("/api/v1/backup-schedules", json=body, headers=op).json["id"]
    started = datetime.now(UTC) - timedelta(hours=1)
    run = {
        "storage_id": _disk(client, op, vm_id(app, vm)),
        "started_at": started.isoformat(),
        "finished_at": (started + timedelta(minutes=5)).isoformat(),
        "bytes": 3 * 1024**3,
        "result": "success",
    }
    made = client.post(f"/api/v1/backup-schedules/{sid}/runs", json=run, headers=host)
    assert made.status_code == 201, made.json
    return sid, made.json["id"]


def test_customer_requests_a_snapshot_and_sees_only_their_own(
    app: Any, client: Any, api_tokens: Any, signed_in: Any
) -> None:
    a, b = signed_in("customer_a"), signed_in("customer_b")
    disk = _disk(client, H(api_tokens.operator), vm_id(app, "web1"))
    made = _post(a, "/inventory/snapshots", {"storage_id": disk, "name": "before-upgrade"})
    assert made.status_code == 303, made.text[:500]
    (snap,) = client.get("/api/v1/snapshots", headers=H(api_tokens.customer_a)).json["results"]
    assert snap["name"] == "before-upgrade" and snap["storage_id"] == disk  # the API agrees
    html = page(a, "/inventory/snapshots")
    assert "before-upgrade" in html and "Inventory</a>" not in html  # no operator crumbs
    # Customer B: an empty list, a 404 for A's snapshot, and no way in through the form.
    assert "before-upgrade" not in page(b, "/inventory/snapshots")
    page(b, f"/inventory/snapshots/{snap['id']}", 404)
    theirs = _post(b, "/inventory/snapshots", {"storage_id": disk, "name": "mine"})
    assert theirs.status_code == 422 and "storage_id" in theirs.text
    # Errors come back next to the field with the input kept; a rollback of a running VM's
    # disk says why (the service's own message).
    bad = _post(a, "/inventory/snapshots", {"storage_id": disk, "name": "Has Space"})
    assert bad.status_code == 422 and 'value="Has Space"' in bad.text and "has-error" in bad.text
    path = f"/inventory/snapshots/{snap['id']}"
    refused = _post(a, f"{path}/rollback", {"confirm": "yes"}, at=path)
    assert refused.status_code in (409, 422) and "stopped" in refused.text
    # The VM page offers the same form for its own disks, and links to the VM's lists.
    vm_page = page(a, f"/vms/{_uuid(client, api_tokens, 'web1')}")
    assert f'<option value="{disk}">' in vm_page and "/inventory/snapshots?vm_id=" in vm_page
    again = _post(a, "/inventory/snapshots", {"storage_id": disk, "name": "nightly"})
    assert again.status_code == 303
    # Customers have no operator pages.
    for other in ("ceph-clusters", "ceph-clients", "backup-stores", "nodes"):
        page(a, f"/inventory/{other}", 403)


def test_backup_schedules_backups_and_restore(
    app: Any, client: Any, api_tokens: Any, signed_in: Any
) -> None:
    sid, backup = _backup(app, client, api_tokens)
    a, b, op = signed_in("customer_a"), signed_in("customer_b"), signed_in("operator")
    html = page(a, "/inventory/backups")
    assert "3 GiB" in html and f'href="/inventory/backups/{backup}"' in html  # human units
    assert f"/inventory/backups/{backup}" not in page(b, "/inventory/backups")
    page(b, f"/inventory/backups/{backup}", 404)
    page(b, f"/inventory/backup-schedules/{sid}", 404)
    # Filter controls: the API's result filter as a select.
    assert (
        'name="result"' in html
        and page(a, "/inventory/backups?result=failed").count('href="/inventory/backups/') == 0
    )
    # Restore into a new disk of the customer's own VM: the API lists the new disk.
    web1 = vm_id(app, "web1")
    disks_before = client.get(f"/api/v1/storage?vm_id={web1}", headers=H(api_tokens.operator))
    path = f"/inventory/backups/{backup}"
    done = _post(a, f"{path}/restore", {"vm_id": web1}, at=path)
    assert done.status_code == 303, done.text[:800]
    disks = client.get(f"/api/v1/storage?vm_id={web1}", headers=H(api_tokens.operator))
    assert disks.json["count"] == disks_before.json["count"] + 1
    new_disk = max(d["id"] for d in disks.json["results"])
    listed = page(a, "/restores?vm=WEB1&sort=-taken")  # typed in any case
    assert _column(listed, 0) == [str(new_disk)] and f"#{backup}" in listed
    assert "No restores." in page(b, "/restores")
    assert "No restores." in page(a, f"/restores?backup_id={backup + 1}")
    assert "Backup:" in page(a, "/restores?backup_id=x", 400)
    # Into another customer's VM: refused next to vm_id, input kept.
    other = vm_id(app, "db1") if _owner(app, "db1") != 1001 else None
    if other is not None:
        refused = _post(a, f"{path}/restore", {"vm_id": other}, at=path)
        assert refused.status_code in (404, 422) and f'value="{other}"' in refused.text
    # A stale edit of the schedule answers 409 with the current values.
    sched = f"/inventory/backup-schedules/{sid}"
    form = page(op, sched)
    csrf = csrf_of(form)
    etag = unescape(form.split('name="etag" value="')[1].split('"')[0])
    first = op.post(sched, data={"csrf": csrf, "etag": etag, "retention": "5"})
    assert first.status_code == 303
    stale = op.post(sched, data={"csrf": csrf, "etag": etag, "retention": "9"})
    assert stale.status_code == 409 and 'value="5"' in stale.text
    schedule = client.get(f"/api/v1/backup-schedules/{sid}", headers=H(api_tokens.operator))
    assert schedule.json["retention"] == 5


def _uuid(client: Any, api_tokens: Any, short: str) -> str:
    vms = client.get(f"/api/v1/vms?hostname={short}.c1001.example.net",
                     headers=H(api_tokens.customer_a)).json["results"]  # fmt: skip
    return vms[0]["uuid"]


def _owner(app: Any, hostname: str) -> int | None:
    from sqlalchemy import select

    from virtapi.models import Vm

    with db_of(app).session() as s:
        return s.scalar(select(Vm.customer_id).where(Vm.hostname.startswith(hostname)))


@pytest.fixture
def keyed(app: Any, tmp_path: Path) -> Path:
    return with_secret_key(app, tmp_path)


def test_ceph_cluster_and_client_forms_never_show_a_key(
    app: Any, client: Any, api_tokens: Any, signed_in: Any, keyed: Path
) -> None:
    op = signed_in("operator")
    cluster = {"name": "main", "fsid": FSID, "public_network": "10.20.0.0/24"}
    assert _post(op, "/inventory/ceph-clusters", cluster).status_code == 303
    key = cephx_key()
    # Without the secrets scope the key is refused and not echoed back into the page.
    body = {"ceph_cluster": "main", "name": "libvirt", "key": key}
    refused = _post(op, "/inventory/ceph-clients", body)
    assert refused.status_code in (403, 422) and "secrets" in refused.text
    assert key not in refused.text and 'type="password"' in refused.text
    # With it, the key is stored; the pages say only that it is set.
    with db_of(app).session() as s:
        _, secret_token = tokens.create_token(s, "operator", name="ceph", secrets_scope=True)
        s.commit()
    keeper = app.test_client()
    assert login(keeper, secret_token).status_code == 303
    assert _post(keeper, "/inventory/ceph-clients", body).status_code == 303
    (made,) = client.get("/api/v1/ceph-clients", headers=H(api_tokens.operator)).json["results"]
    assert made["has_key"] and made["ceph_cluster"] == "main"
    for path in ("/inventory/ceph-clients", f"/inventory/ceph-clients/{made['id']}"):
        html = page(keeper, path)
        assert key not in html and "client.libvirt" in html
    page(signed_in("reader"), "/inventory/ceph-clients", 403)


def test_new_pages_sort_filter_and_stay_under_20_statements(
    app: Any, client: Any, api_tokens: Any, signed_in: Any
) -> None:
    db = db_of(app)
    ca = H(api_tokens.customer_a)
    disk = _disk(client, H(api_tokens.operator), vm_id(app, "web1"))
    for n in range(3):
        made = client.post(
            "/api/v1/snapshots", json={"storage_id": disk, "name": f"s{n}"}, headers=ca
        )
        assert made.status_code == 201, made.json
    _backup(app, client, api_tokens)
    op = signed_in("operator")
    names = _column(page(op, "/inventory/snapshots?sort=-name"), 5)
    assert names == ["s2", "s1", "s0"], names
    assert _column(page(op, f"/inventory/snapshots?storage_id={disk}&sort=name"), 5) == [
        "s0",
        "s1",
        "s2",
    ]
    paths = ["/inventory/snapshots?sort=-name&vm_id=1", "/inventory/backups?result=success"]
    paths += ["/inventory/backup-schedules?sort=-retention", "/inventory/ceph-clusters?name=x"]
    paths += ["/inventory/ceph-clients?page=2", "/inventory/backup-stores", "/drift"]
    paths += ["/restores?vm=web&backup_id=1&sort=-taken", "/restores?page=2"]
    page(op, "/inventory/snapshots")  # let the token's last-use stamp settle

    def measure() -> dict[str, int]:
        return statements_per_path(db.engine, lambda path: page(op, path), paths)

    before = measure()
    for n in range(3, 8):
        client.post("/api/v1/snapshots", json={"storage_id": disk, "name": f"s{n}"}, headers=ca)
    _backup(app, client, api_tokens, "web2")
    after = measure()
    assert before == after and max(after.values()) < 20, (before, after)
