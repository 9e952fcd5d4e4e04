"""Listing VMs by hypervisor or by customer stays an index lookup as the fleet grows.

PostgreSQL's planner picks a plan by cost, so the table is filled (2,000 VMs over 100
hypervisors and 200 customers, by bulk import) and analysed before EXPLAIN is asked. The
statements are the API list's (GET /api/v1/vms?customer_id=… / ?hypervisor=…): the declared
filters of the vms resource applied as the view applies them, then its count and id-ordered page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Select, create_engine, func, select, text
from sqlalchemy.orm import Session

from bench.fleet import generate
from tests.support.pg import PostgresCluster
from virtapi import migrate
from virtapi.api import reads
from virtapi.api.compute import VMS
from virtapi.api.filters import apply_filters
from virtapi.db import Database
from virtapi.models import Node, Vm
from virtapi.services.audit import set_actor
from virtapi.services.transfer import import_inventory


@pytest.fixture(scope="module")
def big(request: pytest.FixtureRequest) -> Iterator[Database]:
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS list_indexes WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE list_indexes"))
    url = cluster.url("list_indexes")
    migrate.upgrade(url)
    db = Database(url)
    with db.session() as s:
        set_actor(s, None, "test")
        import_inventory(s, generate(hypervisors=100, vms_per_hypervisor=20, networks=2))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    yield db
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS list_indexes WITH (FORCE)"))
    admin.dispose()


def _plan(session: Session, stmt: Select) -> dict[str, Any]:
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    raw = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar_one()
    return (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node of a plan."""
    out = [(plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        out += _scans(child)
    return out


def _vm_access(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return [s for s in _scans(plan) if s[1] == "vm" or (s[2] or "").startswith("ix_vm_")]


def _page_and_count(**args: Any) -> list[Select]:
    stmt = apply_filters(select(Vm), VMS.filters, args)
    page = stmt.order_by(Vm.id).limit(50)
    count = select(func.count()).select_from(stmt.subquery())
    return [page, count]


def _api_page(session: Session, **args: Any) -> list[tuple[str, str | None, str | None]]:
    """How the page as the API sends it (the VM shape's columns over its joins, api/reads.py)
    reaches `vm`, with the planner setting docs/scale.md recommends for SSDs: at 2,000 rows
    the default random_page_cost = 4 makes a sequential scan of `vm` look as cheap as 50
    primary-key probes."""
    assert VMS.shape is not None
    page = apply_filters(select(Vm), VMS.filters, args).order_by(Vm.id).limit(50)
    session.execute(text("SET LOCAL random_page_cost = 1.1"))
    return _vm_access(_plan(session, reads.statement(VMS.shape, page)))


@pytest.mark.integration
def test_vms_of_a_customer_are_found_by_index(big: Database) -> None:
    with big.session() as s:
        customer = s.scalar(select(Vm.customer_id).order_by(Vm.id).offset(1000).limit(1))
        for stmt in _page_and_count(customer_id=customer):
            access = _vm_access(_plan(s, stmt))
            assert access, access
            assert all(node != "Seq Scan" for node, _, _ in access), access
            assert any(index == "ix_vm_customer_id" for _, _, index in access), access
        access = _api_page(s, customer_id=customer)
        assert all(node != "Seq Scan" for node, _, _ in access), access
        assert any(index == "ix_vm_customer_id" for _, _, index in access), access


@pytest.mark.integration
def test_vms_of_a_hypervisor_are_found_by_index(big: Database) -> None:
    with big.session() as s:
        fqdn = "hv00042.dc1.example.com"
        node_id = s.scalar(select(Node.id).where(Node.fqdn == fqdn))
        for value in (fqdn, str(node_id)):
            for stmt in _page_and_count(hypervisor=value):
                access = _vm_access(_plan(s, stmt))
                assert all(node != "Seq Scan" for node, _, _ in access), access
                assert any(index == "ix_vm_node_method_id" for _, _, index in access), access
            access = _api_page(s, hypervisor=value)
            assert all(node != "Seq Scan" for node, _, _ in access), access
            assert any(index == "ix_vm_node_method_id" for _, _, index in access), access
            assert len(s.scalars(_page_and_count(hypervisor=value)[0]).all()) == 20
