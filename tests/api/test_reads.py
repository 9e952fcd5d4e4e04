"""The fast read path (virtapi/api/reads.py) gives exactly the schema's dump of the ORM object."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import netaddr
import pytest
from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.helpers import GiB, H, db_of
from tests.services.test_node_document import make_fleet
from virtapi.api import crud, reads
from virtapi.api.compute import VMS
from virtapi.api.etag import etag_of
from virtapi.api.network import ADDRESSES, INTERFACES, VlanRefSchema
from virtapi.api.nodes import NODES
from virtapi.api.storage import STORAGE
from virtapi.models import (
    BaseImage,
    CephClient,
    Image,
    Install,
    Ipv4Address,
    Ipv4Network,
    Ipv6Address,
    Ipv6Network,
    Node,
    NodeState,
    Storage,
    StorageType,
    Vlan,
    Vm,
    VmInterface,
    VmState,
)
from virtapi.services.audit import set_actor

CONVERTED = [VMS, NODES, INTERFACES, ADDRESSES[4], ADDRESSES[6], STORAGE]


def _by_name(session: Session, model: Any, name: str) -> Any:
    return session.scalars(select(model).where(model.name == name)).one()


def _every_optional_field_set_and_unset(session: Session) -> None:
    """make_fleet, plus the values it leaves out: each optional field both set and null."""
    set_actor(session, None, "test")
    make_fleet(session, 2)
    stopped, running = _by_name(session, VmState, "stopped"), _by_name(session, VmState, "running")
    net4, net6 = (
        session.scalars(select(Ipv4Network)).first(),
        session.scalars(select(Ipv6Network)).first(),
    )
    # An unplaced VM, no limit, no NIC, no disk, waiting to start; one with a report and installs.
    session.add(Vm(uuid=uuid.uuid4(), hostname="bare.test", cores=1, ram=GiB, customer_id=2,
                   requested_state=running, actual_state=stopped))  # fmt: skip
    vm0 = session.scalars(select(Vm).where(Vm.hostname == "vm0.test")).one()
    vm0.reported_at = datetime.now(UTC) - timedelta(minutes=3)
    image = Image(name="debian-12", os="debian", version="12", url="http://x.test/d.tar.gz")
    first = Install(vm=vm0, image=image, hostname="vm0.test", secret_hash="0" * 64,
                    state="done", finished_at=datetime.now(UTC))  # fmt: skip
    session.add_all([image, first])
    session.flush()
    session.add(Install(vm=vm0, image=image, hostname="vm0.test", secret_hash="1" * 64,
                        ssh_keys=["ssh-ed25519 AAAA k"], root_password_hash="$6$x$y",
                        phase="partitioning", percent=40))  # fmt: skip
    # A disk cloned from a golden image.
    lvm = _by_name(session, StorageType, "lvm")
    golden = BaseImage(name="golden", storage_type=lvm, size=GiB)
    disk = session.scalars(select(Storage).where(Storage.vm_id == vm0.id)).first()
    assert disk is not None
    disk.base_image = golden
    disk.read_iops_limit, disk.write_iops_limit = None, 500
    disk.read_bps_limit, disk.write_bps_limit = 10**8, 10**9
    session.add(golden)
    # A node with every optional field set (hv-b keeps them null); a node NIC with a purpose
    # and an IPv6 address; a free address of each family.
    hv = session.scalars(select(Node).where(Node.fqdn == "hv-a.test")).one()
    hv.area, hv.puppet_environment, hv.facts = "az1", "production", {"cpus": 64, "os": "debian"}
    hv.reported_state = _by_name(session, NodeState, "maintenance")
    hv.last_seen_at = datetime.now(UTC)
    hv.ceph_client = session.scalars(select(CephClient)).first()
    nic = hv.interfaces[0]
    nic.purpose = "management"
    session.add(Ipv6Address(address=netaddr.IPAddress("2001:db8:1::ffff"), network=net6,
                            interface=nic))  # fmt: skip
    session.add(Ipv4Address(address=netaddr.IPAddress("10.128.200.1"), network=net4))
    session.add(Ipv6Address(address=netaddr.IPAddress("2001:db8:1::fffe"), network=net6))
    session.commit()


@pytest.mark.parametrize("resource", CONVERTED, ids=lambda r: r.path)
def test_fast_json_equals_the_schema_dump(app: Any, resource: crud.Resource) -> None:
    assert resource.shape is not None
    with app.app_context(), db_of(app).sessionmaker() as session:
        _every_optional_field_set_and_unset(session)
        session.expire_all()
        every = select(resource.model).order_by(resource.pk)
        objects = session.scalars(every.options(*resource.options)).unique().all()
        dumped = resource.schema(many=True).dump(objects)
        fast = reads.read(session, resource.shape, every)
        # PostgreSQL: the lists inside the objects' statement (JSON), as GET of one reads them.
        inline = reads.read(session, resource.shape, every, inline_lists=True)
    assert len(fast) == len(dumped) > 1
    assert fast == dumped
    assert inline == dumped
    # The same bytes: keys in the dump's order too, nested objects included.
    assert json.dumps(fast) == json.dumps(inline) == json.dumps(dumped)
    # Both sides of every nullable field were seen, so "null" and "set" are both compared.
    for name, field in resource.schema._declared_fields.items():
        if field.allow_none:
            seen = {dump[name] is None for dump in dumped}
            assert seen == {True, False}, (resource.path, name, seen)


def test_http_get_and_page_answer_the_dump_and_its_etag(
    app: Any, client: Any, api_tokens: Any
) -> None:
    with app.app_context(), db_of(app).sessionmaker() as session:
        _every_optional_field_set_and_unset(session)
        vms = session.scalars(select(Vm).options(*VMS.options).order_by(Vm.id)).unique().all()
        dumped = VMS.schema(many=True).dump(vms)
        nic = session.scalars(select(VmInterface).order_by(VmInterface.id)).first()
        assert nic is not None
        nic_dump = INTERFACES.schema().dump(nic)
    admin = H(api_tokens.admin)
    page = client.get("/api/v1/vms?limit=1000", headers=admin).json
    assert page["results"] == dumped
    resp = client.get(f"/api/v1/vms/{dumped[0]['id']}", headers=admin)
    assert resp.json == dumped[0] and resp.headers["ETag"] == etag_of(dumped[0])
    resp = client.get(f"/api/v1/vm-interfaces/{nic_dump['id']}", headers=admin)
    assert resp.json == nic_dump and resp.headers["ETag"] == etag_of(nic_dump)
    # The ETag of the fast GET is the one PATCH checks against (ORM representation).
    resp = client.patch(f"/api/v1/vms/{dumped[0]['id']}", json={},
                        headers={**admin, "If-Match": etag_of(dumped[0])})  # fmt: skip
    assert resp.status_code == 200, resp.json


def test_a_schema_field_without_a_read_source_stops_the_declaration() -> None:
    # A plain field named like a column is read without being listed …
    grown = Schema.from_dict(
        {**VlanRefSchema._declared_fields, "description": fields.String()}, name="Grown"
    )
    assert reads.Shape(grown, Vlan, {}).fields["description"] is Vlan.description
    # … any other needs a source, or the shape (and so the app) does not load.
    owner = Schema.from_dict(
        {**VlanRefSchema._declared_fields, "owner": fields.String(attribute="customer.name")},
        name="Owner",
    )
    with pytest.raises(TypeError, match=r"no source for \['owner'\]"):
        reads.Shape(owner, Vlan, {})
    counted = Schema.from_dict(
        {**VlanRefSchema._declared_fields, "size": fields.Function(len)}, name="Counted"
    )
    with pytest.raises(TypeError, match=r"no source for \['size'\]"):
        reads.Shape(counted, Vlan, {})
    thin = Schema.from_dict({"id": fields.Integer()}, name="Thin")
    with pytest.raises(TypeError, match=r"not in the schema: \['vni'\]"):
        reads.Shape(thin, Vlan, {"vni": Vlan.vni})
