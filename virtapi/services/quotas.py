"""Per-customer ceilings set by operators: VM count, cores, RAM and disk, summed over all VMs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import CustomerQuota, Snapshot, Storage, Vm
from ..observability import metrics
from .errors import QuotaExceeded

GiB = 1024**3


@dataclass(frozen=True)
class Usage:
    vms: int
    cores: int
    ram: int
    disk: int


def usage(session: Session, customer_id: int) -> Usage:
    vms, cores, ram = session.execute(
        select(
            func.count(Vm.id),
            func.coalesce(func.sum(Vm.cores), 0),
            func.coalesce(func.sum(Vm.ram), 0),
        ).where(Vm.customer_id == customer_id)
    ).one()
    disk = session.scalar(
        select(func.coalesce(func.sum(Storage.size), 0))
        .join(Vm, Storage.vm_id == Vm.id)
        .where(Vm.customer_id == customer_id)
    )
    return Usage(int(vms), int(cores), int(ram), int(disk or 0))


def _human(value: int, unit: str) -> str:
    return f"{value / GiB:g} GiB" if unit == "bytes" else str(value)


def check_quota(
    session: Session,
    customer_id: int,
    *,
    vms: int = 0,
    cores: int = 0,
    ram: int = 0,
    disk: int = 0,
) -> None:
    """Refuse (403 quota_exceeded) a change adding the given amounts beyond the customer's quota.

    The quota row is locked first, so two concurrent requests of one customer cannot both
    squeeze under the same ceiling (PostgreSQL; SQLite serialises writers anyway).
    """
    quota = session.scalar(
        select(CustomerQuota).where(CustomerQuota.customer_id == customer_id).with_for_update()
    )
    if quota is None:
        return
    used = usage(session, customer_id)
    problems: dict[str, list[str]] = {}
    for key, limit, current, delta, unit in (
        ("vms", quota.max_vms, used.vms, vms, "count"),
        ("cores", quota.max_cores, used.cores, cores, "count"),
        ("ram", quota.max_ram, used.ram, ram, "bytes"),
        ("disk", quota.max_disk, used.disk, disk, "bytes"),
    ):
        if limit is not None and delta > 0 and current + delta > limit:
            problems[key] = [
                f"would use {_human(current + delta, unit)} of {_human(limit, unit)} "
                f"(in use: {_human(current, unit)})"
            ]
    if problems:
        detail = "; ".join(f"{k} {v[0]}" for k, v in problems.items())
        metrics.count_refusal("quota")
        raise QuotaExceeded(
            f"customer {customer_id} quota exceeded: {detail}; ask an operator to raise it",
            errors=problems,
        )


def snapshot_count(session: Session, customer_id: int) -> int:
    """Snapshots on the customer's disks, including those whose deletion the host has not yet
    confirmed: until then they still take space."""
    return int(
        session.scalar(
            select(func.count(Snapshot.id))
            .join(Storage, Snapshot.storage_id == Storage.id)
            .join(Vm, Storage.vm_id == Vm.id)
            .where(Vm.customer_id == customer_id)
        )
        or 0
    )


def check_snapshot_quota(session: Session, customer_id: int, add: int = 1) -> None:
    """Refuse (403 quota_exceeded) snapshots beyond the customer's ``max_snapshots``, under
    the same quota row lock as :func:`check_quota`."""
    quota = session.scalar(
        select(CustomerQuota).where(CustomerQuota.customer_id == customer_id).with_for_update()
    )
    if quota is None or quota.max_snapshots is None:
        return
    current = snapshot_count(session, customer_id)
    if current + add > quota.max_snapshots:
        message = f"would use {current + add} of {quota.max_snapshots} (in use: {current})"
        raise QuotaExceeded(
            f"customer {customer_id} quota exceeded: snapshots {message}; delete a snapshot "
            "or ask an operator to raise it",
            errors={"snapshots": [message]},
        )
