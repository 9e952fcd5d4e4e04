"""The node document: content for every role, and a query count that does not grow."""

from __future__ import annotations

import uuid
from typing import Any

import netaddr
import pytest
from sqlalchemy.orm import Session

from tests.support.queries import statements_sent
from virtapi.models import (
    CacheOption,
    CephClient,
    CephCluster,
    CephMonNode,
    CephOsdNode,
    CephPool,
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Node,
    NodeMethod,
    NodeState,
    Storage,
    StorageCeph,
    StorageType,
    VirtMethod,
    VirtNode,
    Vlan,
    Vm,
    VmInterface,
    VmState,
)
from virtapi.services import config_data
from virtapi.services.audit import set_actor
from virtapi.services.demo import load_demo
from virtapi.services.node_document import build_node_document, canonical_json, disk_name

GiB = 1024**3
FSID = uuid.UUID("6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11")


def _by_name(session: Session, model: Any, name: str) -> Any:
    return session.query(model).filter_by(name=name).one()


def make_fleet(session: Session, n_vms: int) -> dict[str, Any]:
    """A hypervisor hv-a with n_vms VMs (each: 2 interfaces, VLANs, IPv4+IPv6, one disk of
    every storage type), a second hypervisor hv-b sharing a VLAN, and two Ceph monitors."""
    running = _by_name(session, NodeState, "running")
    vm_running = _by_name(session, VmState, "running")
    kvm = _by_name(session, VirtMethod, "kvm")
    types = {t: _by_name(session, StorageType, t) for t in ("lvm", "qcow2", "raw", "ceph")}
    cache = _by_name(session, CacheOption, "none")
    pool = CephPool(name="rbd")
    net4 = Ipv4Network(
        network=netaddr.IPAddress("10.128.0.0"),
        last_address=netaddr.IPAddress("10.128.255.255"),
        prefixlen=16,
        gateway=netaddr.IPAddress("10.128.0.1"),
    )
    net6 = Ipv6Network(
        network=netaddr.IPAddress("2001:db8:1::"),
        last_address=netaddr.IPAddress("2001:db8:1::ffff:ffff:ffff:ffff"),
        prefixlen=64,
        gateway=netaddr.IPAddress("2001:db8:1::1"),
    )
    under4 = Ipv4Network(
        network=netaddr.IPAddress("172.16.0.0"),
        last_address=netaddr.IPAddress("172.16.0.255"),
        prefixlen=24,
    )
    cluster = CephCluster(
        name="main", fsid=FSID, public_network="172.16.0.0/24", cluster_network="172.17.0.0/24"
    )
    client = CephClient(cluster=cluster, name="client.libvirt", is_default=True,
                        key_encrypted="v1:not-read-by-the-builder")  # fmt: skip
    session.add_all([pool, net4, net6, under4, cluster, client])

    def node(fqdn: str, index: int, cluster: CephCluster | None = None) -> Node:
        row = Node(fqdn=fqdn, location="rack 1", state=running, ceph_cluster=cluster)
        iface = VmInterface(node=row, node_ifname="eno1", mac=f"0c:00:00:00:00:{index:02x}")
        session.add_all([row, iface])
        session.add(Ipv4Address(address=f"172.16.0.{index}", network=under4, interface=iface))
        return row

    hv_a = VirtNode(
        node=node("hv-a.test", 1, cluster),
        cores=64,
        ram=512 * GiB,
        vg_name="vg0",
        local_storage_path="/srv/images",
        local_storage_gb=4000,
    )
    hv_b = VirtNode(node=node("hv-b.test", 2), cores=64, ram=512 * GiB)
    nm_a = NodeMethod(virt_node=hv_a, virt_method=kvm)
    nm_b = NodeMethod(virt_node=hv_b, virt_method=kvm)
    session.add_all([hv_a, hv_b, nm_a, nm_b])
    for i, fqdn in enumerate(("mon1.test", "mon2.test"), start=11):
        session.add(CephMonNode(node=node(fqdn, i), port=6789))
    session.flush()
    for mon in session.query(CephMonNode):
        mon.ceph_cluster_id = cluster.id
    session.add(CephOsdNode(node=session.query(Node).filter_by(fqdn="mon1.test").one()))
    shared = Vlan(vni=5000, name="shared", customer_id=1)
    session.add(shared)

    address = iter(range(10, 1_000_000))
    for n in range(n_vms):
        vm = Vm(
            uuid=uuid.uuid4(),
            hostname=f"vm{n}.test",
            cores=2,
            ram=2 * GiB,
            customer_id=1,
            cputime_limit=150,
            node_method=nm_a,
            requested_state=vm_running,
            actual_state=vm_running,
        )
        session.add(vm)
        private = Vlan(vni=6000 + n, name=f"private{n}", customer_id=1)
        for k in range(2):
            iface = VmInterface(vm=vm, mac=f"52:54:{n // 256:02x}:{n % 256:02x}:00:{k:02x}")
            iface.vlans.extend([shared, private] if k == 0 else [private])
            session.add(iface)
            a = next(address)
            session.add(
                Ipv4Address(address=f"10.128.{a // 256}.{a % 256}", network=net4, interface=iface)
            )
            session.add(Ipv6Address(address=f"2001:db8:1::{a:x}", network=net6, interface=iface))
        for kind in ("lvm", "qcow2", "raw", "ceph"):
            disk = Storage(
                vm=vm,
                size=10 * GiB,
                storage_type=types[kind],
                cache_option=cache,
                read_iops_limit=100,
            )
            session.add(disk)
            if kind == "ceph":
                session.add(StorageCeph(storage=disk, ceph_pool=pool, discard=False))
    # hv-b carries the shared VLAN, so it is hv-a's VXLAN remote for VNI 5000.
    other = Vm(
        hostname="other.test",
        cores=1,
        ram=GiB,
        customer_id=1,
        node_method=nm_b,
        requested_state=vm_running,
        actual_state=vm_running,
    )
    other_iface = VmInterface(vm=other, mac="52:54:ff:ff:ff:01")
    other_iface.vlans.append(shared)
    session.add_all([other, other_iface])
    session.commit()
    return {"hypervisor": "hv-a.test"}


@pytest.mark.parametrize("n_vms", [1, 100])
def test_query_count_is_constant(session: Session, n_vms: int) -> None:
    make_fleet(session, n_vms)
    session.expire_all()
    with statements_sent(session.get_bind()) as statements:
        document = build_node_document(session, "hv-a.test")
    assert document is not None
    assert len(document["hypervisor"]["vms"]) == n_vms
    vm = document["hypervisor"]["vms"][-1]
    assert len(vm["interfaces"]) == 2 and len(vm["disks"]) == 4
    # Counted for 1 and for 100 VMs alike; the number is the builder's fixed plan:
    # node, underlay addresses of node + monitors + VXLAN peers (both families), monitors,
    # virt methods, VMs, interfaces with VLANs, addresses (both families), disks, VXLAN peers,
    # snapshots, routed /64s, clones, backup schedules, restores.
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    backend = session.get_bind().dialect.name
    assert len(selects) == EXPECTED_HYPERVISOR_QUERIES[backend], selects


# Portable form (SQLite): 9 + snapshots, routed /64s, clones, backups, restores + 2 for
# configuration data (issue 18: the global/area/role/node rows, the groups with their
# ancestors), however many groups. PostgreSQL sends everything after the node row in one
# statement (sections, VXLAN peers and underlay addresses included): node, the rest.
EXPECTED_HYPERVISOR_QUERIES = {"sqlite": 16, "postgresql": 2}


def _every_certname(session: Session) -> list[str]:
    nodes = [n.fqdn for n in session.query(Node).order_by(Node.id)]
    vms = [v.hostname for v in session.query(Vm).order_by(Vm.id)]
    return [*nodes, *vms, str(session.query(Vm).order_by(Vm.id).first().uuid)]  # type: ignore[union-attr]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("fleet", ["test", "demo"])
def test_postgresql_form_equals_portable_form(session: Session, fleet: str) -> None:
    """PostgreSQL reads all sections in one JSON statement; the portable form (one statement
    per section, what SQLite runs) must give the same bytes for every node and VM."""
    set_actor(session, None, "test")
    if fleet == "test":
        make_fleet(session, 3)
        members = ["hv-a.test", "vm1.test"]
    else:
        load_demo(session)
        members = ["hv01.dc1.example.com", "web1.c1001.example.net"]
    config_data.put_level(session, "role", "vm", {"data": {"motd": "vm", "x": {"y": [1]}}})
    config_data.save_group(
        session, None, {"name": "g", "classes": {"profile::motd": {"message": "%%{hi}"}},
                        "members": members},
    )  # fmt: skip
    session.commit()
    certnames = _every_certname(session)
    assert len(certnames) >= 9
    for certname in certnames:
        combined = build_node_document(session, certname)
        portable = build_node_document(session, certname, portable=True)
        assert combined is not None
        assert canonical_json(combined) == canonical_json(portable), certname


def test_hypervisor_document_content(session: Session) -> None:
    make_fleet(session, 3)
    doc = build_node_document(session, "hv-a.test")
    assert doc is not None
    assert doc["kind"] == "node" and doc["roles"] == ["hypervisor"]
    assert doc["node"]["underlay_ipv4"] == "172.16.0.1"
    hv = doc["hypervisor"]
    assert hv["virt_methods"] == ["kvm"] and hv["vg_name"] == "vg0"
    vm = hv["vms"][0]
    vm_id = vm["interfaces"][0]["name"].split("-")[0]
    iface = vm["interfaces"][0]
    assert iface["bridge"] == f"br-{iface['name']}"
    assert iface["vnis"] == sorted(iface["vnis"]) and 5000 in iface["vnis"]
    assert iface["ipv4"][0]["prefixlen"] == 16 and iface["ipv4"][0]["gateway"] == "10.128.0.1"
    assert iface["ipv6"][0]["gateway"] == "2001:db8:1::1"
    assert vm["ram_mib"] == 2048 and vm["cputime_limit"] == 150
    disks = {d["type"]: d for d in vm["disks"]}
    assert [d["name"] for d in vm["disks"]] == ["vda", "vdb", "vdc", "vdd"]
    assert disks["lvm"]["lv"].startswith(f"vg0/vm{vm_id}-disk")
    assert disks["qcow2"]["path"].startswith("/srv/images/") and disks["qcow2"]["path"].endswith(
        ".qcow2"
    )
    assert disks["ceph"]["pool"] == "rbd" and disks["ceph"]["discard"] is False
    assert disks["raw"]["read_iops_limit"] == 100 and disks["raw"]["cache"] == "none"
    vxlans = {v["vni"]: v for v in hv["vxlans"]}
    # The shared VLAN reaches hv-b; the private ones stay on this hypervisor.
    assert vxlans[5000]["remotes_ipv4"] == ["172.16.0.2"]
    assert len(vxlans[5000]["bridges"]) == 3
    assert vxlans[6000]["remotes_ipv4"] == [] and len(vxlans[6000]["bridges"]) == 2
    assert [m["fqdn"] for m in hv["ceph_monitors"]] == ["mon1.test", "mon2.test"]


def test_ceph_roles(session: Session) -> None:
    make_fleet(session, 1)
    mon1 = build_node_document(session, "mon1.test")
    mon2 = build_node_document(session, "mon2.test")
    assert mon1 is not None and mon2 is not None
    assert mon1["roles"] == ["ceph_osd", "ceph_mon"] and mon2["roles"] == ["ceph_mon"]
    assert mon1["ceph"]["mon_host"] == "172.16.0.11:6789,172.16.0.12:6789"
    assert mon1["ceph"]["mon_port"] == 6789
    assert "hypervisor" not in mon1
    # A monitor's cluster is its monitor's; the client the cluster's default; never a key.
    assert mon1["ceph"]["cluster"] == {
        "fsid": str(FSID),
        "mon_host": "172.16.0.11:6789,172.16.0.12:6789",
        "public_network": "172.16.0.0/24",
        "cluster_network": "172.17.0.0/24",
    }
    assert mon1["ceph"]["client"]["name"] == "client.libvirt"
    assert mon1["ceph"]["client"]["key_secret_present"] is True
    assert "key" not in mon1["ceph"]["client"]


def test_hypervisor_ceph_cluster_and_client(session: Session) -> None:
    make_fleet(session, 1)
    hv = build_node_document(session, "hv-a.test")["hypervisor"]  # type: ignore[index]
    assert hv["ceph_cluster"]["fsid"] == str(FSID)
    assert hv["ceph_cluster"]["mon_host"] == "172.16.0.11:6789,172.16.0.12:6789"
    client = hv["ceph_client"]
    assert set(client) == {"name", "secret_uuid", "key_secret_present"}
    # hv-b names no cluster: no Ceph sections at all.
    assert "ceph_cluster" not in build_node_document(session, "hv-b.test")["hypervisor"]  # type: ignore[index]
    # A node's own client choice wins over the default.
    other = CephClient(ceph_cluster_id=client_cluster_id(session), name="client.other")
    session.add(other)
    session.flush()
    node = session.query(Node).filter_by(fqdn="hv-a.test").one()
    node.ceph_client_id = other.id
    session.commit()
    hv = build_node_document(session, "hv-a.test")["hypervisor"]  # type: ignore[index]
    assert hv["ceph_client"] == {
        "name": "client.other", "secret_uuid": str(other.secret_uuid), "key_secret_present": False
    }  # fmt: skip


def client_cluster_id(session: Session) -> int:
    return session.query(CephCluster).filter_by(name="main").one().id


def test_vm_document_by_hostname_and_uuid(session: Session) -> None:
    make_fleet(session, 2)
    by_name = build_node_document(session, "vm1.test")
    assert by_name is not None and by_name["kind"] == "vm" and by_name["roles"] == ["guest"]
    vm = by_name["vm"]
    assert vm["hypervisor"] == "hv-a.test"
    assert vm["gateways"] == {"ipv4": ["10.128.0.1"], "ipv6": ["2001:db8:1::1"]}
    assert {v["vni"] for v in vm["vlans"]} == {5000, 6001}
    by_uuid = build_node_document(session, vm["uuid"])
    assert by_uuid is not None and by_uuid["vm"] == vm


def test_unknown_certname(session: Session) -> None:
    make_fleet(session, 1)
    assert build_node_document(session, "nope.test") is None
    assert build_node_document(session, str(uuid.uuid4())) is None


def test_demo_fleet(session: Session) -> None:
    load_demo(session)
    session.commit()
    hv01 = build_node_document(session, "hv01.dc1.example.com")
    assert hv01 is not None
    assert {vm["hostname"] for vm in hv01["hypervisor"]["vms"]} == {
        "web1.c1001.example.net",
        "db1.c1001.example.net",
    }
    # web2 on hv02 shares VLAN 10001 with web1 and db1 on hv01.
    assert hv01["hypervisor"]["vxlans"][0]["vni"] == 10001
    assert hv01["hypervisor"]["vxlans"][0]["remotes_ipv4"] == ["10.20.0.12"]


def test_disk_names() -> None:
    assert [disk_name(i) for i in (0, 1, 25, 26, 27, 701, 702)] == [
        "vda",
        "vdb",
        "vdz",
        "vdaa",
        "vdab",
        "vdzz",
        "vdaaa",
    ]


def test_config_section_follows_every_change(session: Session) -> None:
    """The merged ``config`` is cached by the stored levels' text: a change shows at once, and a
    cache hit equals a fresh merge; a document's containers are its own."""
    set_actor(session, None, "test")
    make_fleet(session, 1)
    config_data.put_level(session, "global", None, {"data": {"ntp::servers": ["a"]}})
    config_data.put_level(session, "node", "hv-a.test", {"data": {"motd": "%%{not}"}})
    session.commit()
    first = build_node_document(session, "hv-a.test")
    assert first is not None
    first["config"]["data"]["ntp::servers"] = ["changed by a caller"]
    second = build_node_document(session, "hv-a.test")
    assert second is not None
    assert second["config"]["data"] == {"motd": "%{not}", "ntp::servers": ["a"]}
    node = session.query(Node).filter_by(fqdn="hv-a.test").one()
    fresh = config_data.merge(
        config_data.machine_levels(session.connection(), "node", node.id, None, ["hypervisor"])
    ).as_document()
    assert second["config"] == fresh
    config_data.put_level(session, "global", None, {"data": {"ntp::servers": ["b"]}})
    session.commit()
    third = build_node_document(session, "hv-a.test")
    assert third is not None and third["config"]["data"]["ntp::servers"] == ["b"]
