"""Nested lists cost a constant number of SQL queries, however many rows they show."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import GiB, H, db_of
from tests.support.queries import statements_sent


def _queries(app: Any, client: Any, url: str, headers: dict[str, str]) -> int:
    with statements_sent(db_of(app).engine) as statements:
        resp = client.get(url, headers=headers)
        assert resp.status_code == 200
    return len(statements)


def test_list_query_count_is_constant(app: Any, client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    client.get("/api/v1/whoami", headers=op)  # token use recorded outside the measurement
    urls = (
        "/api/v1/vms?limit=1000",
        "/api/v1/nodes?limit=1000",
        "/api/v1/vm-interfaces?limit=1000",
    )
    before = {url: _queries(app, client, url, op) for url in urls}
    for n in range(6):
        vm = client.post(
            "/api/v1/vms",
            json={"hostname": f"q{n}.example.net", "cores": 1, "ram": GiB, "customer_id": 1001},
            headers=op,
        ).json
        client.post("/api/v1/vm-interfaces", json={"vm_id": vm["id"], "vlans": [1]}, headers=op)
        client.post(
            "/api/v1/storage",
            json={"vm_id": vm["id"], "size": GiB, "storage_type": "ceph", "ceph_pool": "rbd"},
            headers=op,
        )
        client.post("/api/v1/nodes", json={"fqdn": f"n{n}.example.com"}, headers=op)
    after = {url: _queries(app, client, url, op) for url in urls}
    assert after == before
    assert before["/api/v1/vms?limit=1000"] <= 12
