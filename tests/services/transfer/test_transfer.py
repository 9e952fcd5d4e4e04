"""Bulk import/export: round trip on both backends, all-or-nothing checks, change log, API, CLI."""

from __future__ import annotations

import copy
import gc
import json
import os
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text

from bench.fleet import generate
from virtapi.db import Database
from virtapi.models import Change, ChangeNode, Ipv4Address, Node, Storage, Vm, VmInterface
from virtapi.services.affected import Resolver, Touches
from virtapi.services.audit import BULK_AFFECTED_LIMIT, set_actor
from virtapi.services.demo import load_demo
from virtapi.services.errors import InvalidInput
from virtapi.services.transfer import export_inventory, gc_paused, import_inventory


def _import(database: Database, doc: Any) -> Any:
    with database.session() as s:
        set_actor(s, None, "test")
        return import_inventory(s, doc)


def _export(database: Database) -> dict[str, Any]:
    with database.session() as s:
        return export_inventory(s)


def _count(database: Database, model: Any) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_export_import_export_round_trip(database: Database, other_url: str) -> None:
    with database.session() as s:
        set_actor(s, None, "demo")
        load_demo(s)
    first = _export(database)
    assert len(first["nodes"]) == 6 and len(first["vms"]) == 5
    web2 = next(v for v in first["vms"] if v["hostname"].startswith("web2"))
    assert web2["disks"][0]["ceph"] == {"pool": "rbd", "discard": True}
    assert web2["placement"] == {"hypervisor": "hv02.dc1.example.com", "method": "kvm"}
    assert web2["interfaces"][0]["vlans"] == [10001]

    other = Database(other_url)
    try:
        # Through text, as a file would carry it.
        summary = _import(other, yaml.safe_load(yaml.safe_dump(first)))
        assert summary.counts["vms"] == 5 and summary.counts["addresses"] == 22
        assert _export(other) == first
    finally:
        other.dispose()


def test_generated_fleet_round_trip(database: Database) -> None:
    doc = generate(hypervisors=3, vms_per_hypervisor=4, ceph_nodes=2, networks=2)
    # Characters PostgreSQL's COPY text format must escape.
    doc["networks"]["ipv4"][0]["description"] = "tab\there, back\\slash\nnew line \\N"
    summary = _import(database, doc)
    assert summary.counts == {
        "nodes": 5,
        "vms": 12,
        "interfaces": 17,
        "addresses": 34,
        "disks": 18,
        "networks": 6,
        "vlans": 2,
        "ceph_pools": 2,
        "ceph_clusters": 0,
        "backup_stores": 0,
        "base_images": 0,
        "prefix_pools": 0,
        "routed_prefixes": 0,
        "snapshots": 0,
        "backup_schedules": 0,
    }
    exported = _export(database)
    assert (
        exported["networks"]["ipv4"][0]["description"] == doc["networks"]["ipv4"][0]["description"]
    )
    assert {v["hostname"] for v in exported["vms"]} == {v["hostname"] for v in doc["vms"]}
    vm = next(v for v in exported["vms"] if v["hostname"] == doc["vms"][1]["hostname"])
    assert vm["disks"][1]["read_iops_limit"] == 2000
    assert vm["interfaces"][0]["addresses"] == doc["vms"][1]["interfaces"][0]["addresses"]


def test_every_created_row_has_one_change_row(database: Database) -> None:
    doc = generate(hypervisors=2, vms_per_hypervisor=2, ceph_nodes=1, networks=1)
    _import(database, doc)
    with database.session() as s:
        by_type = dict(
            s.execute(select(Change.object_type, func.count()).group_by(Change.object_type)).all()
        )
        assert by_type["vm"] == s.scalar(select(func.count()).select_from(Vm)) == 4
        assert by_type["vm_interface"] == 7  # 4 VMs + 3 nodes
        assert by_type["storage"] == s.scalar(select(func.count()).select_from(Storage))
        assert by_type["ipv4"] == s.scalar(select(func.count()).select_from(Ipv4Address))
        vm = s.scalars(select(Vm).order_by(Vm.id)).first()
        row = s.scalars(
            select(Change).where(Change.object_type == "vm", Change.object_id == str(vm.id))
        ).one()
        assert row.actor == "test" and row.action == "create"
        assert row.customer_id == vm.customer_id
        assert row.after["hostname"] == vm.hostname and row.after["uuid"] == str(vm.uuid)
        iface = s.scalars(select(VmInterface).where(VmInterface.vm_id == vm.id)).one()
        iface_change = s.scalars(
            select(Change).where(
                Change.object_type == "vm_interface", Change.object_id == str(iface.id)
            )
        ).one()
        assert iface_change.after["vlans"] == [v.id for v in iface.vlans]
        assert iface_change.customer_id == vm.customer_id


def test_a_large_import_logs_star_per_row_and_feeds_every_certname(database: Database) -> None:
    """Each bulk-created row would carry the batch's certnames: rows × certnames grows
    quadratically with an import, so past BULK_AFFECTED_LIMIT a row says "*"; the feed still
    names every certname, and a small batch keeps its exact list."""
    doc = generate(hypervisors=6, vms_per_hypervisor=20, ceph_nodes=1, networks=1)
    assert len(doc["vms"]) + 6 > BULK_AFFECTED_LIMIT
    _import(database, doc)
    with database.session() as s:
        vm_rows = s.scalars(select(Change.affected).where(Change.object_type == "vm")).all()
        assert len(vm_rows) == 120 and all(a == ["*"] for a in vm_rows)
        # A batch of fewer certnames keeps them: the one Ceph node's own rows.
        osd = s.scalars(select(Change.affected).where(Change.object_type == "ceph_osd_node")).one()
        assert osd == sorted(n["fqdn"] for n in doc["nodes"] if n.get("ceph_osd"))
        fed = set(s.scalars(select(ChangeNode.certname)))
    assert {v["hostname"] for v in doc["vms"]} | {n["fqdn"] for n in doc["nodes"]} <= fed


def test_a_large_import_gives_the_planner_its_new_rows(database: Database) -> None:
    """The change log's certname resolution joins the imported rows: without fresh statistics
    PostgreSQL plans for empty tables and the import grows with the square of its size."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    doc = generate(hypervisors=50, vms_per_hypervisor=20, ceph_nodes=1, networks=2)
    with database.session() as s:
        set_actor(s, None, "test")
        import_inventory(s, doc)
        # Still inside the import's transaction: autovacuum cannot have counted these rows.
        tuples = dict(
            s.execute(
                text("SELECT relname, reltuples FROM pg_class WHERE relname IN ('vm', 'node')")
            ).all()
        )
    assert tuples["vm"] >= 1000  # analyzed: never-analyzed tables say -1 (or 0)
    assert tuples["node"] < 51  # 51 rows: a small section is left to autovacuum


def test_an_import_pauses_the_cyclic_collector_and_restores_it(database: Database) -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    doc = _small()
    doc["vms"][0]["cores"] = 0
    with pytest.raises(InvalidInput):
        _import(database, doc)
    assert gc.isenabled()  # also when the import is refused
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own choice stands
    finally:
        gc.enable()


def test_change_rows_have_the_flush_hooks_shape(database: Database, other_url: str) -> None:
    """A bulk-created VM is logged with the same fields as one created through the ORM."""
    with database.session() as s:
        set_actor(s, None, "demo")
        load_demo(s)
    doc = _export(database)
    other = Database(other_url)
    try:
        _import(other, doc)
        shapes = []
        for db in (database, other):
            with db.session() as s:
                for kind in ("vm", "vm_interface", "storage", "storage_ceph", "ipv6", "node"):
                    after = s.scalars(
                        select(Change.after).where(Change.object_type == kind).limit(1)
                    ).one()
                    # The hook lists VLAN members only where they were touched.
                    shapes.append((kind, sorted(set(after) - {"vlans"})))
        assert shapes[:6] == shapes[6:]
    finally:
        other.dispose()


def _small() -> dict[str, Any]:
    return generate(hypervisors=2, vms_per_hypervisor=3, ceph_nodes=1, networks=1)


def _rejects(database: Database, doc: Any, path: str, words: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        _import(database, doc)
    assert caught.value.message.startswith(f"nothing imported: {path}: "), caught.value.message
    assert words in caught.value.message
    assert path in caught.value.errors
    # All or nothing: not one row of the document was written.
    assert _count(database, Node) == 0 and _count(database, Vm) == 0
    assert _count(database, Change) == 0
    return caught.value


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (
            lambda d: d["vms"][4]["interfaces"][0].__setitem__(
                "mac", d["vms"][1]["interfaces"][0]["mac"].upper()
            ),
            "vms[4].interfaces[0].mac",
            "duplicate MAC 52:54:00:00:00:02 (also at vms[1].interfaces[0].mac)",
        ),
        (
            lambda d: d["vms"][2]["interfaces"][0]["addresses"].append("192.0.2.7"),
            "vms[2].interfaces[0].addresses[2]",
            "192.0.2.7 lies in no known network",
        ),
        (
            lambda d: d["vms"][1]["disks"][1]["ceph"].__setitem__("pool", "nope"),
            "vms[1].disks[1].ceph.pool",
            "unknown ceph pool 'nope'",
        ),
        (
            lambda d: d["vms"][0]["placement"].__setitem__("method", "docker"),
            "vms[0].placement",
            "no hypervisor offering 'docker' (it offers kvm)",
        ),
        (
            lambda d: d["vms"][0]["interfaces"][0].__setitem__("mac", "52:54:00:zz"),
            "vms[0].interfaces[0].mac",
            "is not a MAC address",
        ),
        (
            lambda d: d["vms"][5].__setitem__("hostname", d["vms"][0]["hostname"]),
            "vms[5].hostname",
            "duplicate hostname",
        ),
        (
            lambda d: d["networks"]["ipv4"][1].__setitem__("gateway", "10.9.9.9"),
            "networks.ipv4[1].gateway",
            "lies outside",
        ),
        (
            lambda d: d["networks"]["ipv4"][1].__setitem__("cidr", "100.64.0.1/28"),
            "networks.ipv4[1].cidr",
            "host bits set",
        ),
        (
            lambda d: d["vms"][0]["disks"][0].__setitem__("cache", "sometimes"),
            "vms[0].disks[0].cache",
            "unknown cache option 'sometimes'; known:",
        ),
        (
            lambda d: d["nodes"][0]["hypervisor"]["methods"].append("xen"),
            "nodes[0].hypervisor.methods[1]",
            "unknown virt method 'xen'",
        ),
        (lambda d: d.__setitem__("version", 2), "version", "Must be equal to 1"),
        (lambda d: d["vms"][3].__setitem__("colour", "red"), "vms[3].colour", "Unknown field"),
    ],
)
def test_a_bad_entry_is_named_and_nothing_is_written(
    database: Database, mutate: Any, path: str, words: str
) -> None:
    doc = _small()
    mutate(doc)
    _rejects(database, doc, path, words)


def test_a_customer_vlan_stays_with_its_customer(database: Database) -> None:
    doc = _small()
    # vms[0] (customer 1000) joins customer 1001's VLAN.
    doc["vlans"].append({"vni": 20000, "name": "other", "customer_id": 1001})
    doc["vms"][0]["interfaces"][0]["vlans"] = [20000]
    _rejects(database, doc, "vms[0].interfaces[0].vlans[0]", "belongs to customer 1001")


def test_every_problem_is_listed(database: Database) -> None:
    doc = _small()
    for vm in doc["vms"]:
        vm["disks"][0]["type"] = "floppy"
    err = _rejects(database, doc, "vms[0].disks[0].type", "unknown storage type 'floppy'")
    assert "(and 5 more problems)" in err.message
    assert len(err.errors) == 6


def test_importing_what_exists_names_the_clash(database: Database) -> None:
    doc = _small()
    _import(database, copy.deepcopy(doc))
    before = _count(database, Change)
    doc["vms"] = doc["vms"][:1]
    with pytest.raises(InvalidInput) as caught:
        _import(database, doc)
    assert caught.value.message.startswith(
        "nothing imported: ceph_pools[0].name: ceph pool rbd already exists in the database"
    )
    assert "vms[0].hostname" in caught.value.errors
    assert "vms[0].interfaces[0].mac" in caught.value.errors
    assert _count(database, Change) == before


def test_a_second_batch_may_refer_to_existing_rows(database: Database) -> None:
    doc = _small()
    _import(database, copy.deepcopy(doc))
    second = {
        "version": 1,
        "vms": [
            {
                "hostname": "late.example.net",
                "customer_id": 1000,
                "cores": 1,
                "ram": 2**30,
                "placement": {"hypervisor": doc["nodes"][0]["fqdn"]},
                "interfaces": [
                    {"mac": "52:54:00:aa:bb:cc", "vlans": [10000], "addresses": ["100.64.0.12"]}
                ],
                "disks": [{"type": "ceph", "size": 2**30, "ceph": {"pool": "rbd"}}],
            }
        ],
    }
    _import(database, second)
    vm = next(v for v in _export(database)["vms"] if v["hostname"] == "late.example.net")
    assert vm["placement"]["hypervisor"] == doc["nodes"][0]["fqdn"]
    assert vm["interfaces"][0]["vlans"] == [10000]
    assert vm["disks"][0]["cache"] == "default" and vm["requested_state"] == "stopped"


# --- HTTP ---------------------------------------------------------------------------------------


def test_api_import_and_export(client: Any, api_tokens: Any, app: Any) -> None:
    admin = api_tokens.header(api_tokens.admin)
    doc = _small()
    resp = client.post("/api/v1/import", json=doc, headers=api_tokens.header(api_tokens.reader))
    assert resp.status_code == 403

    bad = copy.deepcopy(doc)
    bad["vms"][2]["interfaces"][0]["mac"] = bad["vms"][0]["interfaces"][0]["mac"]
    resp = client.post("/api/v1/import", json=bad, headers=admin)
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["code"] == "invalid"
    assert "vms[2].interfaces[0].mac: duplicate MAC" in body["message"]
    assert list(body["errors"]) == ["vms[2].interfaces[0].mac"]

    resp = client.post("/api/v1/import", data="version: 1\nvms: [", headers=admin,
                       content_type="application/yaml")  # fmt: skip
    assert resp.status_code == 422 and "does not parse" in resp.get_json()["message"]
    resp = client.post("/api/v1/import", data="x", headers=admin, content_type="text/plain")
    assert resp.status_code == 415

    resp = client.post(
        "/api/v1/import",
        data=yaml.safe_dump(doc),
        headers=api_tokens.header(api_tokens.operator),
        content_type="application/yaml",
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["imported"]["vms"] == 6

    reader = api_tokens.header(api_tokens.reader)
    exported = client.get("/api/v1/export", headers=reader)
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    as_yaml = client.get("/api/v1/export?format=yaml", headers=reader)
    assert as_yaml.mimetype == "application/yaml"
    assert yaml.safe_load(as_yaml.data) == exported.get_json()
    assert len(exported.get_json()["vms"]) == 6
    customer = api_tokens.header(api_tokens.customer_a)
    assert client.get("/api/v1/export", headers=customer).status_code == 403
    assert client.get("/api/v1/export?format=xml", headers=reader).status_code == 422


# --- CLI ----------------------------------------------------------------------------------------


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtapi", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )


def test_cli_export_and_import(
    database: Database, db_url: str, other_url: str, tmp_path: Path
) -> None:
    _import(database, _small())
    env = {"VIRTAPI_DATABASE_URL": db_url, "VIRTAPI_INSTANCE_PATH": str(tmp_path)}
    out = tmp_path / "fleet.yaml"
    done = _cli(env, "export", "-o", str(out))
    assert done.returncode == 0, done.stderr
    as_json = _cli(env, "export", "--format", "json")
    assert json.loads(as_json.stdout) == yaml.safe_load(out.read_text())

    other_env = {**env, "VIRTAPI_DATABASE_URL": other_url}
    broken = yaml.safe_load(out.read_text())
    broken["vms"][1]["disks"][0]["size"] = 0
    broken["vms"][2]["disks"][0]["size"] = -1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    failed = _cli(other_env, "import", str(bad))
    assert failed.returncode == 1
    assert "vms[1].disks[0].size:" in failed.stderr and "vms[2].disks[0].size:" in failed.stderr

    done = _cli(other_env, "import", str(out))
    assert done.returncode == 0, done.stderr
    assert "imported 3 nodes, 6 vms" in done.stdout
    assert _cli(other_env, "export").stdout == out.read_text()


def test_ceph_clusters_round_trip_without_keys(
    database: Database, other_url: str, tmp_path: Path
) -> None:
    """Clusters, clients and every node's choice travel; a key never does (issue 16)."""
    from tests.support.ceph import cephx_key
    from virtapi.services import ceph
    from virtapi.services.secretbox import box_for, ensure_key_file

    box = box_for(str(ensure_key_file(tmp_path / "secrets.key")))
    key = cephx_key()
    with database.session() as s:
        set_actor(s, None, "demo")
        load_demo(s)
        cluster = ceph.create_cluster(s, {"name": "main", "fsid": uuidlib.uuid4()})
        client = ceph.create_client(s, cluster, {"name": "client.libvirt", "key": key}, box)
        hv = s.scalar(select(Node).where(Node.fqdn == "hv01.dc1.example.com"))
        ceph.choose(s, hv, "main", "client.libvirt", ("ceph_cluster", "ceph_client"))
        s.commit()
        encrypted = client.key_encrypted
    first = _export(database)
    dumped = json.dumps(first)
    assert (
        key not in dumped
        and encrypted not in dumped
        and "key" not in json.dumps(first["ceph_clusters"])
    )
    assert first["ceph_clusters"][0]["clients"][0]["name"] == "client.libvirt"
    hv01 = next(n for n in first["nodes"] if n["fqdn"] == "hv01.dc1.example.com")
    assert (hv01["ceph_cluster"], hv01["ceph_client"]) == ("main", "client.libvirt")
    other = Database(other_url)
    try:
        keyed = copy.deepcopy(first)
        keyed["ceph_clusters"][0]["clients"][0]["key"] = key
        _rejects(other, keyed, "ceph_clusters[0].clients[0].key", "Unknown field")
        wrong = copy.deepcopy(first)
        i = next(i for i, n in enumerate(wrong["nodes"]) if n["fqdn"] == hv01["fqdn"])
        wrong["nodes"][i]["ceph_client"] = "nobody"
        _rejects(other, wrong, f"nodes[{i}].ceph_client", "has no client")
        _import(other, first)
        assert _export(other) == first
    finally:
        other.dispose()


def test_host_groups_and_config_data_round_trip(database: Database, other_url: str) -> None:
    """Issue 18: groups (tree, members, classes, data) and the other levels travel along."""
    from virtapi.services import config_data

    with database.session() as s:
        set_actor(s, None, "demo")
        load_demo(s)
        config_data.put_level(s, "global", None, {"data": {"ntp::servers": ["ntp0"]}})
        config_data.put_level(s, "node", "hv01.dc1.example.com", {"data": {"x::y": 1}})
        config_data.put_level(s, "role", "vm", {"classes": {"profile::guest": {}}})
        root = config_data.save_group(
            s, None, {"name": "root", "data": {"site::name": "dc1"}, "members": []}
        )
        config_data.save_group(
            s,
            None,
            {
                "name": "leaf",
                "parent_id": root.id,
                "classes": {"profile::motd": {"message": "hi"}},
                "members": ["hv01.dc1.example.com", "web1.c1001.example.net"],
            },
        )
    first = _export(database)
    assert [g["name"] for g in first["config"]["host_groups"]] == ["root", "leaf"]
    assert first["config"]["host_groups"][1]["parent"] == "root"
    node_level = next(lv for lv in first["config"]["levels"] if lv["level"] == "node")
    assert node_level["target"] == "hv01.dc1.example.com"
    # Children before parents in the document still import.
    first["config"]["host_groups"].reverse()
    other = Database(other_url)
    try:
        summary = _import(other, yaml.safe_load(yaml.safe_dump(first)))
        assert summary.counts["host_groups"] == 2 and summary.counts["config_levels"] == 3
        again = _export(other)
        first["config"]["host_groups"].reverse()
        assert again == first
    finally:
        other.dispose()


def test_purposes_travel_and_must_agree(database: Database, other_url: str) -> None:
    with database.session() as s:
        set_actor(s, None, "demo")
        load_demo(s)
    doc = _export(database)
    assert doc["nodes"][0]["interfaces"][0]["purpose"] == "management"
    assert {n["purpose"] for n in doc["networks"]["ipv4"]} == {"management", None}
    doc["nodes"][0]["interfaces"][0]["purpose"] = "storage"
    other = Database(other_url)
    try:
        _rejects(other, doc, "nodes[0].interfaces[0].addresses[0]", "purpose storage")
    finally:
        other.dispose()


def test_a_bad_config_entry_is_named_and_nothing_is_written(database: Database) -> None:
    doc = {
        "version": 1,
        "nodes": [{"fqdn": "n1.example.com"}],
        "config": {"host_groups": [{"name": "g", "data": {"Bad Key": 1}, "members": []}]},
    }
    with pytest.raises(InvalidInput) as caught:
        _import(database, doc)
    assert "config.host_groups[0].data" in caught.value.errors
    assert _count(database, Node) == 0


def test_resolving_more_ids_than_a_driver_binds(database: Database) -> None:
    """An import of 100,000 VMs resolves that many ids at once: past psycopg 3's 65,535 bound
    parameters (and SQLite's 32,766), so id lists are rendered into the statement."""
    doc = generate(hypervisors=1, vms_per_hypervisor=2, ceph_nodes=0, networks=1)
    _import(database, doc)
    url = database.engine.url
    if url.get_backend_name() == "postgresql":  # psycopg 3, the driver of postgresql:// URLs
        database = Database(url.set(drivername="postgresql+psycopg").render_as_string(False))
    with database.session() as s:
        vm_ids = set(s.scalars(select(Vm.id)))
        names = Resolver(s.connection()).certnames(
            Touches(vms=vm_ids | set(range(10**6, 10**6 + 70_000)))
        )
    assert names == {v["hostname"] for v in doc["vms"]} | {doc["nodes"][0]["fqdn"]}
