"""The change log as the API shows it: contents after API writes, filters, customer scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.api.helpers import GiB, H, vm_id


def test_change_log_after_api_writes(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    start = datetime.now(UTC) - timedelta(seconds=1)
    vm = client.post(
        "/api/v1/vms",
        json={"hostname": "log.example.net", "cores": 1, "ram": GiB, "customer_id": 1001},
        headers=op,
    ).json
    client.patch(f"/api/v1/vms/{vm['id']}", json={"cores": 2}, headers=op)
    client.delete(f"/api/v1/vms/{vm['id']}", headers=op)
    since = quote(start.isoformat())
    rows = client.get(
        f"/api/v1/changes?object_type=vms&object_id={vm['id']}&since={since}", headers=op
    ).json["results"]
    assert [r["action"] for r in rows] == ["create", "update", "delete"]
    create, update, delete = rows
    assert create["after"]["hostname"] == "log.example.net" and create["before"] is None
    assert update["before"] == {"cores": 1} and update["after"] == {"cores": 2}
    assert delete["before"]["cores"] == 2 and delete["after"] is None
    assert {r["customer_id"] for r in rows} == {1001}
    assert all(r["actor"].endswith(":operator") for r in rows)
    token_id = rows[0]["actor_token_id"]
    by_actor = client.get(f"/api/v1/changes?actor_token_id={token_id}", headers=op).json
    assert by_actor["count"] == 3
    by_name = client.get(f"/api/v1/changes?actor={quote(rows[0]['actor'])}", headers=op).json
    assert by_name["count"] == 3
    # The customer sees the history of its own VM, the other customer does not.
    ca = client.get(
        f"/api/v1/changes?object_type=vm&object_id={vm['id']}", headers=H(api_tokens.customer_a)
    )
    assert ca.json["count"] == 3
    cb = client.get(
        f"/api/v1/changes?object_type=vm&object_id={vm['id']}", headers=H(api_tokens.customer_b)
    )
    assert cb.json["count"] == 0
    until = quote(start.isoformat())
    assert (
        client.get(
            f"/api/v1/changes?object_id={vm['id']}&object_type=vm&until={until}", headers=op
        ).json["count"]
        == 0
    )
    assert client.get("/api/v1/changes?action=update&object_type=vm", headers=op).json["count"] == 1
    naive = client.get("/api/v1/changes?since=2024-01-01T00:00:00", headers=op)
    assert naive.status_code == 422 and "since" in naive.json["errors"]
    one = client.get(f"/api/v1/changes/{rows[1]['id']}", headers=op)
    assert one.status_code == 200 and one.json == rows[1] and one.headers["ETag"]


def test_secrets_never_in_the_log(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    rows = client.get(
        "/api/v1/changes?object_type=api_token&limit=1000", headers=H(api_tokens.admin)
    ).json
    assert rows["count"] >= 5
    assert all("token_hash" not in (r["after"] or {}) for r in rows["results"])
    assert api_tokens.admin not in str(rows)


def test_interface_vlan_membership_logged(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    web1 = client.get(f"/api/v1/vms/{vm_id(app, 'web1')}", headers=op).json
    iface = web1["interfaces"][0]
    vlan = client.post("/api/v1/vlans", json={"name": "ops", "vni": 777}, headers=op).json
    resp = client.patch(
        f"/api/v1/vm-interfaces/{iface['id']}",
        json={"vlans": [iface["vlans"][0]["id"], vlan["id"]]},
        headers=op,
    )
    assert [v["vni"] for v in resp.json["vlans"]] == [777, 10001]
    log = client.get(
        f"/api/v1/changes?object_type=vm-interfaces&object_id={iface['id']}&action=update",
        headers=op,
    ).json["results"]
    assert log[-1]["before"] == {"vlans": [str(iface["vlans"][0]["id"])]}
    assert log[-1]["after"] == {"vlans": sorted([str(iface["vlans"][0]["id"]), str(vlan["id"])])}
    assert log[-1]["customer_id"] == 1001
