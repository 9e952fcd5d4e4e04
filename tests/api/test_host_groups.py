"""Host groups and configuration data (issue 18): tree, members, merge into ENC/Hiera/pillar,
explain, conflicts, validation, roles, and the write path (change log, feed, dry run)."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import select

from tests.api.helpers import H, db_of
from virtapi.models import Change

HV1 = "hv01.dc1.example.com"
HV2 = "hv02.dc1.example.com"
HV3 = "hv03.dc1.example.com"
CEPH1 = "ceph01.dc1.example.com"
WEB1 = "web1.c1001.example.net"
GROUPS = "/api/v1/host-groups"


def _group(client: Any, op: dict[str, str], **body: Any) -> Any:
    answer = client.post(GROUPS, json=body, headers=op)
    assert answer.status_code == 201, answer.json
    return answer.json


def _put(client: Any, op: dict[str, str], path: str, body: dict[str, Any]) -> None:
    answer = client.put(f"/api/v1/config-data/{path}", json=body, headers=op)
    assert answer.status_code == 200, answer.json


def test_levels_merge_into_enc_hiera_pillar_and_explain(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    _put(client, op, "global", {"data": {"ntp::servers": ["ntp0"], "site::tags": {"a": 1}}})
    _put(client, op, "area/a", {"data": {"site::tags": {"b": 2}}})
    _put(client, op, "role/hypervisor", {"classes": {"profile::motd": {"message": "role"}}})
    base = _group(
        client,
        op,
        name="base",
        classes={"profile::base": {}},
        data={"ntp::servers": ["ntp1", "ntp2"], "site::tags": {"c": 3, "a": {"__remove__": True}}},
    )
    web = _group(
        client,
        op,
        name="web",
        parent_id=base["id"],
        classes={"profile::motd": {"message": "from group web"}},
        members=[HV1, WEB1],
    )
    assert web["depth"] == 1 and web["members"] == sorted([HV1, WEB1])
    _put(client, op, f"node/{HV1}", {"data": {"ntp::servers": ["ntp-own"]}})

    enc = yaml.safe_load(client.get(f"/enc/{HV1}", headers=op).data)
    # Role classes first, then the assigned ones with the winning parameters.
    classes = list(enc["classes"])
    assert classes[:2] == ["virtapi::node_network", "virtapi::hypervisor"]
    assert classes.index("profile::motd") > classes.index("virtapi::hypervisor")
    assert enc["classes"]["profile::motd"] == {"message": "from group web"}
    assert enc["classes"]["profile::base"] == {}
    hiera = client.get(f"/hiera/{HV1}", headers=op).json
    assert hiera["ntp::servers"] == ["ntp-own"]  # node over groups; arrays replaced
    assert hiera["site::tags"] == {"b": 2, "c": 3}  # deep merge; "a" removed by base
    assert hiera["profile::motd::message"] == "from group web"
    pillar = client.get(f"/pillar/{HV1}", headers=op).json["virtapi"]["config"]
    assert pillar["classes"] == ["profile::base", "profile::motd"]
    assert pillar["data"]["site::tags"] == {"b": 2, "c": 3}

    # hv02 is in area a and a hypervisor, but in no group.
    hv2 = client.get(f"/hiera/{HV2}", headers=op).json
    assert hv2["profile::motd::message"] == "role" and hv2["ntp::servers"] == ["ntp0"]
    # The VM member: groups and global, no hypervisor role.
    vm_enc = yaml.safe_load(client.get(f"/enc/{WEB1}", headers=op).data)
    assert vm_enc["classes"]["profile::motd"] == {"message": "from group web"}

    explained = client.get(f"/api/v1/nodes/{HV1}/explain?key=ntp::servers", headers=op).json
    entry = explained["keys"]["ntp::servers"]
    assert [c["level"] for c in entry["contributions"]] == [
        "global",
        "group base (depth 0)",
        "node",
    ]
    assert entry["winner"] == "node" and entry["value"] == ["ntp-own"]
    assert explained["levels"] == [
        "global",
        "area a",
        "role hypervisor",
        "group base (depth 0)",
        "group web (depth 1)",
        "node",
    ]
    everything = client.get(f"/api/v1/nodes/{HV1}/explain", headers=op).json
    assert everything["keys"]["site::tags"]["merge"] == "deep"
    assert everything["classes"]["profile::motd"]["assigned"] is True
    missing = client.get(f"/api/v1/nodes/{HV1}/explain?key=nope::nothing", headers=op)
    assert missing.status_code == 404 and "nope::nothing" in missing.json["message"]
    assert client.get("/api/v1/nodes/nobody.example/explain", headers=op).status_code == 404


def test_same_depth_conflicts_are_refused_when_assigned(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    ntp = _group(client, op, name="ntp-a", data={"ntp::servers": ["a"]}, members=[HV1])
    other = _group(client, op, name="ntp-b", data={"ntp::servers": ["b"]}, members=[HV2])
    clash = client.patch(f"{GROUPS}/{other['id']}", json={"members": [HV1, HV2]}, headers=op)
    assert clash.status_code == 409, clash.json
    assert "ntp-a" in clash.json["message"] and "ntp-b" in clash.json["message"]
    assert "ntp::servers" in clash.json["message"]
    # Nothing changed: hv01 is still only in ntp-a.
    assert client.get(f"{GROUPS}/{other['id']}", headers=op).json["members"] == [HV2]
    # Writing the key into a group that already shares a member is refused as well; a class
    # parameter and the same key as data are one key.
    shared = _group(client, op, name="shared", members=[HV1])
    param = client.patch(
        f"{GROUPS}/{shared['id']}",
        json={"classes": {"ntp": {"servers": ["c"]}}},
        headers=op,
    )
    assert param.status_code == 409 and "ntp::servers" in param.json["message"]
    # At different depths there is no conflict: the deeper group wins.
    child = client.post(
        GROUPS,
        json={"name": "child", "parent_id": ntp["id"], "data": {"ntp::servers": ["child"]},
              "members": [HV1]},
        headers=op,
    )  # fmt: skip
    assert child.status_code == 201, child.json
    assert client.get(f"/hiera/{HV1}/ntp::servers", headers=op).json == {"ntp::servers": ["child"]}


def test_tree_cycles_depth_and_delete(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    chain = [_group(client, op, name="g0")]
    for i in range(1, 8):
        chain.append(_group(client, op, name=f"g{i}", parent_id=chain[-1]["id"]))
    assert chain[-1]["depth"] == 7
    too_deep = client.post(GROUPS, json={"name": "g8", "parent_id": chain[-1]["id"]}, headers=op)
    assert too_deep.status_code == 409 and "parent_id" in too_deep.json["errors"]
    cycle = client.patch(
        f"{GROUPS}/{chain[0]['id']}", json={"parent_id": chain[3]["id"]}, headers=op
    )
    assert cycle.status_code == 409 and "cycle" in cycle.json["message"]
    # Moving a subtree moves its depths along.
    moved = client.patch(f"{GROUPS}/{chain[2]['id']}", json={"parent_id": None}, headers=op)
    assert moved.status_code == 200 and moved.json["depth"] == 0
    assert client.get(f"{GROUPS}/{chain[7]['id']}", headers=op).json["depth"] == 5
    busy = client.delete(f"{GROUPS}/{chain[2]['id']}", headers=op)
    assert busy.status_code == 409 and "g3" in busy.json["message"]
    assert client.delete(f"{GROUPS}/{chain[7]['id']}", headers=op).status_code == 204


def test_bad_input_answers_422_naming_the_field(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    cases = [
        ({"classes": {"Profile::Motd": {}}}, "classes"),
        ({"classes": {"virtapi::hypervisor": {"vms": []}}}, "classes"),
        ({"classes": {"profile::motd": {"Bad-Param": 1}}}, "classes"),
        ({"classes": {"profile::motd": "not a hash"}}, "classes"),
        ({"data": {"ntp.servers": 1}}, "data"),
        ({"data": {"motd": "%{facts.hostname}"}}, "data"),
        ({"data": {"deep": _nested(20)}}, "data"),
        ({"data": {"big": "x" * 70000}}, "data"),
        ({"members": ["nobody.example.com"]}, "members"),
        ({"name": "has space"}, "name"),
    ]
    for body, field in cases:
        answer = client.post(GROUPS, json={"name": "g", **body}, headers=op)
        assert answer.status_code == 422, (body, answer.json)
        assert field in answer.json["errors"], (body, answer.json)
    escaped = client.post(GROUPS, json={"name": "ok", "data": {"motd": "%%{not}"}}, headers=op)
    assert escaped.status_code == 201
    bad_level = client.put("/api/v1/config-data/role/dbserver", json={"data": {}}, headers=op)
    assert bad_level.status_code == 404 and "target" in bad_level.json["errors"]
    bad_data = client.put("/api/v1/config-data/global", json={"data": {"A": 1}}, headers=op)
    assert bad_data.status_code == 422 and "data" in bad_data.json["errors"]
    # The OpenAPI document states the key patterns.
    spec = client.get("/api/v1/openapi.json").json
    schema = spec["components"]["schemas"]["HostGroup"]["properties"]["classes"]
    assert schema["x-key-pattern"].startswith("^[a-z]")


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_customers_never_see_groups_or_data(client: Any, api_tokens: Any, demo: Any) -> None:
    op = H(api_tokens.operator)
    group = _group(client, op, name="secret", members=[WEB1], data={"x::y": 1})
    customer = H(api_tokens.customer_a)
    for method, path in (
        ("get", GROUPS),
        ("get", f"{GROUPS}/{group['id']}"),
        ("post", GROUPS),
        ("delete", f"{GROUPS}/{group['id']}"),
        ("get", "/api/v1/config-data"),
        ("put", "/api/v1/config-data/global"),
        ("get", f"/api/v1/nodes/{WEB1}/explain"),
    ):
        answer = getattr(client, method)(path, json={}, headers=customer)
        assert answer.status_code == 404, (method, path, answer.status_code)
    assert client.get(GROUPS, headers=H(api_tokens.reader)).status_code == 403
    assert client.get(GROUPS).status_code == 401


def test_group_change_goes_through_the_write_path(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    parent = _group(client, op, name="parent", members=[HV3])
    _group(client, op, name="kid", parent_id=parent["id"], members=[CEPH1, WEB1])
    cursor = client.get("/api/v1/feed", headers=op).json["cursor"]
    path = f"{GROUPS}/{parent['id']}"
    body = {"data": {"motd::text": "hello"}}
    dry = client.patch(f"{path}?dry_run=true", json=body, headers=op).json
    assert dry["dry_run"] is True and dry["status"] == 200
    # Members of the group and of its descendant groups, nothing else.
    assert dry["affected"] == sorted([HV3, CEPH1, WEB1])
    assert sorted(dry["documents"]) == sorted([HV3, CEPH1, WEB1])
    assert {"op": "add", "path": "/config/data/motd::text", "value": "hello"} in dry["documents"][
        WEB1
    ]
    assert client.get(f"/hiera/{WEB1}", headers=op).json.get("motd::text") is None
    assert client.patch(path, json=body, headers=op).status_code == 200
    feed = client.get(f"/api/v1/feed?since={cursor}", headers=op).json
    assert feed["nodes"] == sorted([HV3, CEPH1, WEB1])
    with db_of(app).session() as s:
        change = s.scalars(
            select(Change).where(Change.object_type == "host_group").order_by(Change.id.desc())
        ).first()
        assert change.before == {"data": {}} and change.after == {"data": body["data"]}
        assert change.affected == sorted([HV3, CEPH1, WEB1])
    # A role's data names the nodes with that role; global names everything.
    cursor = feed["cursor"]
    _put(client, op, "role/ceph_mon", {"data": {"x::y": 1}})
    feed = client.get(f"/api/v1/feed?since={cursor}", headers=op).json
    assert feed["nodes"] == sorted(f"ceph0{i}.dc1.example.com" for i in (1, 2, 3))


def test_a_deleted_node_leaves_its_groups_and_levels(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    client.post("/api/v1/nodes", json={"fqdn": "spare.dc1.example.com"}, headers=op)
    group = _group(client, op, name="spare-group", members=["spare.dc1.example.com", HV1])
    _put(client, op, "node/spare.dc1.example.com", {"data": {"x::y": 1}})
    node = client.get("/api/v1/nodes?fqdn=spare.dc1.example.com", headers=op).json["results"][0]
    assert client.delete(f"/api/v1/nodes/{node['id']}", headers=op).status_code == 204
    assert client.get(f"{GROUPS}/{group['id']}", headers=op).json["members"] == [HV1]
    assert client.get("/api/v1/config-data", headers=op).json == []
