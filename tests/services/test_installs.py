"""Install requests under concurrency, and the batched look-up for VM lists."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from tests.support.installs import WEB1_HOST
from tests.support.queries import statements_sent
from virtapi.models import Install, Vm
from virtapi.services import installs
from virtapi.services.audit import set_actor
from virtapi.services.errors import Conflict

KEY = "test-application-key"


def test_concurrent_requests_one_wins(app: Any, demo: Any) -> None:
    """Two requests for one VM at once: exactly one install, the other a Conflict."""
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        vm_id = s.scalar(select(Vm.id).where(Vm.hostname == WEB1_HOST))
    # Both start their transaction at once (SQLite serialises them at the first statement;
    # on PostgreSQL both pass the service's check and the partial unique index decides).
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def worker(image: str) -> None:
        try:
            with db.sessionmaker() as s:
                set_actor(s, None, "test")
                barrier.wait()
                vm = s.get(Vm, vm_id)
                installs.request_vm_install(s, vm, image=image, secret_key=KEY)
                s.commit()
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=(i,)) for i in ("debian-12", "ubuntu-24.04")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["conflict", "created"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Install)) == 1


def test_latest_installs_batched(app: Any, demo: Any) -> None:
    db = app.extensions["virtapi.db"]
    with db.session() as s:
        vms = s.scalars(select(Vm).order_by(Vm.id)).all()
        first, _ = installs.request_vm_install(s, vms[0], image="debian-12", secret_key=KEY)
        installs.cancel(s, first)
        second, _ = installs.request_vm_install(s, vms[0], image="ubuntu-24.04", secret_key=KEY)
        other, _ = installs.request_vm_install(s, vms[2], image="debian-12", secret_key=KEY)
        ids = [vm.id for vm in vms]
        expected = {vms[0].id: second.id, vms[2].id: other.id}
    with db.session() as s:
        with statements_sent(db.engine) as statements:
            got = installs.latest_installs(s, ids)
            images = {vm_id: i.image.name for vm_id, i in got.items()}
        assert installs.latest_installs(s, []) == {}
    assert {vm_id: i.id for vm_id, i in got.items()} == expected
    assert images == {vms[0].id: "ubuntu-24.04", vms[2].id: "debian-12"}
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 2
