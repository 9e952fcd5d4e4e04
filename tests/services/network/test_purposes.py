"""Node networks with a purpose: API rules, change log, affected documents, node document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.helpers import H, db_of, vm_id
from virtapi.models import Change, Node, Vm
from virtapi.services.node_document import build_node_document

HV01, HV02 = "hv01.dc1.example.com", "hv02.dc1.example.com"
CEPH01 = "ceph01.dc1.example.com"


def _node_id(app: Any, fqdn: str) -> int:
    with db_of(app).session() as s:
        return s.scalar(select(Node.id).where(Node.fqdn == fqdn))


def _documents(app: Any) -> dict[str, Any]:
    with db_of(app).session() as s:
        names = [*s.scalars(select(Node.fqdn)), *s.scalars(select(Vm.hostname))]
        return {name: build_node_document(s, name) for name in names}


def _nic(client: Any, op: dict[str, str], node: int, name: str, mac: str, purpose: str) -> int:
    body = {"node_id": node, "node_ifname": name, "mac": mac, "purpose": purpose}
    resp = client.post("/api/v1/vm-interfaces", json=body, headers=op)
    assert resp.status_code == 201, resp.json
    assert resp.json["purpose"] == purpose and resp.json["name"] == name
    return resp.json["id"]


def _address(client: Any, op: dict[str, str], address: str, iface: int) -> Any:
    return client.post(
        "/api/v1/ipv4-addresses", json={"address": address, "vm_interface_id": iface}, headers=op
    )


def test_purposes_are_validated_and_must_agree(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    bad = client.post(
        "/api/v1/ipv4-networks", json={"prefix": "10.30.0.0/24", "purpose": "san"}, headers=op
    )
    assert bad.status_code == 422 and "management, storage" in bad.json["errors"]["purpose"][0]
    net = client.post(
        "/api/v1/ipv4-networks",
        json={"prefix": "10.30.0.0/24", "gateway": "10.30.0.1", "purpose": "storage"},
        headers=op,
    )
    assert net.status_code == 201 and net.json["purpose"] == "storage"
    listed = client.get("/api/v1/ipv4-networks?purpose=storage", headers=op).json
    assert [n["prefix"] for n in listed["results"]] == ["10.30.0.0/24"]

    hv01 = _node_id(app, HV01)
    eno2 = _nic(client, op, hv01, "eno2", "0c:c4:7a:00:01:01", "storage")
    # A management address on the storage NIC, a storage address on a VM's NIC: 422 naming
    # the interface field; the right one goes through.
    wrong = _address(client, op, "10.20.0.99", eno2)
    assert wrong.status_code == 422, wrong.json
    assert "storage" in wrong.json["errors"]["vm_interface_id"][0]
    web1 = client.get(f"/api/v1/vms/{vm_id(app, 'web1')}", headers=op).json
    vm_nic = web1["interfaces"][0]["id"]
    on_vm = _address(client, op, "10.30.0.50", vm_nic)
    assert on_vm.status_code == 422 and "vm_interface_id" in on_vm.json["errors"]
    free = client.post("/api/v1/ipv4-addresses", json={"address": "10.30.0.51"}, headers=op)
    moved = client.patch(free.headers["Location"], json={"vm_interface_id": vm_nic}, headers=op)
    assert moved.status_code == 422 and "vm_interface_id" in moved.json["errors"]
    ok = _address(client, op, "10.30.0.11", eno2)
    assert ok.status_code == 201, ok.json

    # Changing either side while an address disagrees: 422 on purpose.
    flip = client.patch(f"/api/v1/vm-interfaces/{eno2}", json={"purpose": "backup"}, headers=op)
    assert flip.status_code == 422 and "purpose" in flip.json["errors"]
    flip = client.patch(
        f"/api/v1/ipv4-networks/{net.json['id']}", json={"purpose": "backup"}, headers=op
    )
    assert flip.status_code == 422 and "purpose" in flip.json["errors"]
    vm_purpose = client.patch(
        f"/api/v1/vm-interfaces/{vm_nic}", json={"purpose": "storage"}, headers=op
    )
    assert vm_purpose.status_code == 422 and "purpose" in vm_purpose.json["errors"]
    customer = client.patch(
        f"/api/v1/vm-interfaces/{vm_nic}", json={"purpose": None}, headers=H(api_tokens.customer_a)
    )
    assert customer.status_code == 403

    # Renaming a node NIC changes that node's document: the update names it (dry run).
    rename = client.patch(
        f"/api/v1/vm-interfaces/{eno2}?dry_run=true", json={"node_ifname": "stor0"}, headers=op
    )
    # (a stated superset: a node NIC's change names its VXLAN peers too)
    assert rename.status_code == 200 and HV01 in rename.json["affected"], rename.json
    patches = rename.json["documents"]
    assert [name for name, patch in patches.items() if patch] == [HV01]
    assert any(op["value"] == "stor0" for op in rename.json["documents"][HV01])

    # The change log has the purpose, and the change names the node.
    with db_of(app).session() as s:
        row = s.scalars(
            select(Change).where(
                Change.object_type == "vm_interface", Change.object_id == str(eno2)
            )
        ).one()
        assert row.after["purpose"] == "storage" and HV01 in row.affected

    spec = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    enums = {
        name: schema["properties"]["purpose"].get("enum")
        for name, schema in spec.items()
        if "purpose" in schema.get("properties", {})
    }
    assert {"Ipv4Network", "Ipv6NetworkCreate", "InterfaceCreate", "InterfaceUpdate"} <= set(enums)
    purposes = ["management", "storage", "backup", "underlay"]
    assert all(e in (purposes, [*purposes, None]) for e in enums.values())


def test_node_document_interfaces_underlay_and_ceph_networks(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    op = H(api_tokens.operator)
    for prefix, purpose in (("10.30.0.0/24", "storage"), ("10.40.0.0/24", "underlay")):
        resp = client.post(
            "/api/v1/ipv4-networks", json={"prefix": prefix, "purpose": purpose}, headers=op
        )
        assert resp.status_code == 201
    hv01, ceph01 = _node_id(app, HV01), _node_id(app, CEPH01)
    for node, mac, address in ((hv01, "02:01", "10.30.0.1"), (ceph01, "02:02", "10.30.0.21")):
        nic = _nic(client, op, node, "eno2", f"0c:00:00:00:{mac}", "storage")
        assert _address(client, op, address, nic).status_code == 201
    under = _nic(client, op, hv01, "eno3", "0c:00:00:00:02:03", "underlay")
    before = _documents(app)

    # Underlay address: dry run names every changed document (hv01 and its VXLAN peers).
    body = {"address": "10.40.0.1", "vm_interface_id": under}
    dry = client.post("/api/v1/ipv4-addresses?dry_run=true", json=body, headers=op)
    assert dry.status_code == 200, dry.json
    real = client.post("/api/v1/ipv4-addresses", json=body, headers=op)
    assert real.status_code == 201
    after = _documents(app)
    changed = {name for name in after if after[name] != before[name]}
    assert HV01 in changed and changed <= set(dry.json["affected"])
    assert any(
        "10.40.0.1" in vx["remotes_ipv4"]
        for name in changed - {HV01}
        for vx in after[name]["hypervisor"]["vxlans"]
    )

    doc = after[HV01]
    interfaces = doc["node"]["interfaces"]
    assert set(interfaces) == {"management", "storage", "underlay"}
    assert interfaces["management"][0]["name"] == "eno1"
    assert interfaces["management"][0]["ipv4"] == [
        {"address": "10.20.0.11", "prefixlen": 24, "gateway": "10.20.0.1"}
    ]
    assert interfaces["storage"] == [
        {
            "name": "eno2",
            "mac": "0c:00:00:00:02:01",
            "ipv4": [{"address": "10.30.0.1", "prefixlen": 24, "gateway": None}],
            "ipv6": [],
        }
    ]
    # VXLAN runs over the underlay NIC, Ceph over the storage network.
    assert doc["hypervisor"]["underlay_ipv4"] == "10.40.0.1"
    assert doc["hypervisor"]["ceph_cluster"] == {
        "public_network": "10.30.0.0/24",
        "cluster_network": "10.30.0.0/24",
    }
    monitors = {m["fqdn"]: m["address"] for m in doc["hypervisor"]["ceph_monitors"]}
    assert monitors[CEPH01] == "10.30.0.21"
    assert after[CEPH01]["ceph"]["cluster"]["public_network"] == "10.30.0.0/24"
    assert "10.30.0.21:6789" in after[CEPH01]["ceph"]["mon_host"]
    # A hypervisor without a storage NIC reaches Ceph on the monitors' storage network.
    assert before[HV02]["hypervisor"]["ceph_cluster"]["public_network"] == "10.30.0.0/24"

    # Hiera serves the storage networks; the ENC leaves them to Hiera's lookup order (an
    # operator's own Hiera level, e.g. with the fsid, comes first).
    reader = H(api_tokens.reader)
    key = "virtapi::hypervisor::ceph_cluster"
    hiera = client.get(f"/hiera/{HV01}/{key}", headers=reader)
    assert hiera.status_code == 200 and hiera.json[key]["public_network"] == "10.30.0.0/24"
    enc = client.get(f"/enc/{HV01}", headers=reader).data.decode()
    assert "ceph_cluster" not in enc and "node_network" in enc
    assert client.get(f"/hiera/{CEPH01}/virtapi::ceph::cluster", headers=reader).status_code == 200
