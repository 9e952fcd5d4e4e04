"""Which certnames a write affects: random writes through the API on the demo fleet, every
document rebuilt before and after each, and the recorded set compared with the difference.

Exact (affected == changed) except where services/affected.py states a superset: writes
that change VLAN membership or placement also name every hypervisor carrying the VLANs
involved (``peers``), and a node's fqdn change names every monitor-listing document.
Heartbeats and VM state reports change nothing and record nothing.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import Tokens
from virtapi.db import Database
from virtapi.models import (
    CephMonNode,
    Change,
    ChangeNode,
    DataVersion,
    Ipv4Network,
    Node,
    VirtNode,
    Vlan,
    Vm,
    VmInterface,
)
from virtapi.services.node_document import build_node_document


def _documents(db: Database) -> dict[str, Any]:
    with db.session() as s:
        names = list(s.execute(select(Node.fqdn)).scalars())
        names += list(s.execute(select(Vm.hostname)).scalars())
        return {n: build_node_document(s, n) for n in names}


def _head(db: Database) -> int:
    with db.session() as s:
        return s.execute(select(DataVersion.version)).scalar_one()


def _recorded(db: Database, since: int) -> tuple[set[str], int]:
    """The certnames in change_node after version `since`, and the number of change rows."""
    with db.session() as s:
        after = select(ChangeNode.certname).where(ChangeNode.version > since)
        count = s.execute(select(func.count(Change.id))).scalar_one()
        return set(s.execute(after).scalars()), count


def _hypervisors(db: Database) -> set[str]:
    with db.session() as s:
        return set(
            s.execute(select(Node.fqdn).join(VirtNode, VirtNode.node_id == Node.id)).scalars()
        )


class Fleet:
    """Random writes over what exists right now; each returns (method, path, body, kind)."""

    def __init__(self, db: Database, rng: random.Random) -> None:
        self.db, self.rng = db, rng

    def _pick(self, s: Session, statement: Any) -> Any:
        rows = list(s.execute(statement).scalars())
        return self.rng.choice(rows) if rows else None

    def op(self) -> tuple[str, str, dict[str, Any], str]:
        rng = self.rng
        with self.db.session() as s:
            vm = self._pick(s, select(Vm))
            node = self._pick(s, select(Node))
            kinds = ["vm_cores", "vm_ram", "node_location", "heartbeat", "vm_report",
                     "mon_port", "gateway", "vlan_name", "migrate", "vlans", "node_env",
                     "vm_stop"]  # fmt: skip
            kind = rng.choice(kinds)
            if kind == "vm_cores":
                return "PATCH", f"/api/v1/vms/{vm.id}", {"cores": rng.randint(1, 4)}, kind
            if kind == "vm_ram":
                return "PATCH", f"/api/v1/vms/{vm.id}", {"ram": rng.randint(1, 8) * 2**30}, kind
            if kind == "node_location":
                return (
                    "PATCH",
                    f"/api/v1/nodes/{node.id}",
                    {"location": f"r{rng.randint(1, 3)}"},
                    kind,
                )
            if kind == "node_env":
                env = rng.choice(["staging", "testing"])  # never the default: see SUPERSET
                return "PATCH", f"/api/v1/nodes/{node.id}", {"puppet_environment": env}, kind
            if kind == "heartbeat":
                facts = {"uptime": rng.randint(1, 10**6)}
                return "POST", f"/api/v1/nodes/{node.fqdn}/report", {"facts": facts}, kind
            if kind == "vm_report":
                state = rng.choice(["running", "stopped"])
                return "POST", f"/api/v1/vms/{vm.uuid}/report", {"state": state}, kind
            if kind == "vm_stop":
                action = rng.choice(["stop", "start"])
                return "POST", f"/api/v1/vms/{vm.uuid}/actions", {"action": action}, kind
            if kind == "mon_port":
                mon = self._pick(s, select(CephMonNode))
                port = rng.choice([6789, 3300, 6790])
                return "PATCH", f"/api/v1/ceph-mon-nodes/{mon.id}", {"port": port}, kind
            if kind == "gateway":
                net = self._pick(s, select(Ipv4Network))
                gw = str(net.cidr.network + rng.randint(1, 3))
                return "PATCH", f"/api/v1/ipv4-networks/{net.id}", {"gateway": gw}, kind
            if kind == "vlan_name":
                vlan = self._pick(s, select(Vlan))
                return "PATCH", f"/api/v1/vlans/{vlan.id}", {"name": f"n{rng.randint(1, 9)}"}, kind
            if kind == "migrate":
                hv = self._pick(s, select(Node.fqdn).join(VirtNode, VirtNode.node_id == Node.id))
                body = {"hypervisor": hv, "method": "kvm"}
                return "POST", f"/api/v1/vms/{vm.uuid}/migrate", body, kind
            iface = self._pick(s, select(VmInterface).where(VmInterface.vm_id.is_not(None)))
            vlans = list(s.execute(select(Vlan.id)).scalars())
            chosen = sorted(rng.sample(vlans, rng.randint(0, min(2, len(vlans)))))
            return "PATCH", f"/api/v1/vm-interfaces/{iface.id}", {"vlans": chosen}, "vlans"


# Writes whose recorded set may exceed the changed one, and by what (see the module doc).
SUPERSET = {"migrate": "peers", "vlans": "peers"}
NOTHING = {"heartbeat", "vm_report"}


@pytest.mark.parametrize("seed", [1, 2])
def test_affected_is_exactly_the_changed_documents(
    app: Any, client: Any, api_tokens: Tokens, demo: Any, seed: int
) -> None:
    db: Database = app.extensions["virtapi.db"]
    operator = api_tokens.header(api_tokens.operator)
    fleet = Fleet(db, random.Random(seed))
    hypervisors = _hypervisors(db)
    seen_kinds: set[str] = set()
    before = _documents(db)
    for _ in range(30):
        method, path, body, kind = fleet.op()
        head = _head(db)
        changes_before = _recorded(db, head)[1]
        response = client.open(path, method=method, json=body, headers=operator)
        after = _documents(db)
        changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
        recorded, changes_after = _recorded(db, head)
        if response.status_code >= 400:
            assert response.status_code < 500, response.get_json()
            assert not changed and not recorded and _head(db) == head
            continue
        seen_kinds.add(kind)
        assert changed <= recorded, (kind, body, changed - recorded)
        extra = recorded - changed
        if kind in SUPERSET:
            assert extra <= hypervisors, (kind, extra)
        else:
            assert not extra, (kind, body, extra)
        if kind in NOTHING:
            assert _head(db) == head and changes_after == changes_before
        if not recorded:
            assert _head(db) == head  # a write changing no document is no version step
        with db.session() as s:
            # The change-log rows of this transaction name the same certnames.
            newest = select(Change.affected).order_by(Change.id.desc())
            rows = s.execute(newest.limit(changes_after - changes_before)).scalars()
            logged = {c for r in rows for c in (r or [])}
        assert logged == recorded, (kind, logged, recorded)
        before = after
    assert len(seen_kinds) >= 8, seen_kinds  # the seeds exercise most kinds of write
