"""Which hypervisor a VM runs on: automatic (least loaded) or by an operator, validated alike.

A hypervisor qualifies when its node state is ``running``, it offers the VM's virtualisation
method, and what its placed VMs already commit leaves room for the VM:

- cores:  cores x CPU overcommit - committed cores >= VM cores
- RAM:    RAM x RAM overcommit - committed RAM >= VM RAM
- local storage (lvm, qcow2, raw disks): local_storage_gb - committed local disks >= VM's
  local disks (never overcommitted; Ceph disks do not count)

Of the qualifying ones the least loaded wins: the lowest share of cores or RAM (whichever is
higher) after placing the VM; ties go to fewer VMs, then to the name. Placement decisions are
serialised by one transaction-scoped lock, so parallel creations never both take the last slot.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Settings
from ..models import Node, NodeMethod, VirtMethod, VirtNode, Vm
from ..observability import metrics
from .capacity import LOCAL_STORAGE_TYPES, HypervisorUsage, hypervisor_usage
from .errors import Conflict, InvalidInput, NotFound
from .locks import advisory_lock
from .lookups import node_by_ref

F = TypeVar("F", bound=Callable[..., Any])


def _counts_refusals(fn: F) -> F:
    """Count every no-capacity refusal of ``fn`` once, whichever check raised it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Conflict as exc:
            if exc.code == "no_capacity":
                metrics.count_refusal("capacity")
            raise

    return wrapper  # type: ignore[return-value]


GiB = 1024**3


@dataclass(frozen=True)
class Overcommit:
    # The defaults are the settings' (VIRTAPI_CPU_OVERCOMMIT, VIRTAPI_RAM_OVERCOMMIT).
    cpu: float = Settings.cpu_overcommit
    ram: float = Settings.ram_overcommit

    @classmethod
    def of(cls, settings: Settings) -> Overcommit:
        return cls(cpu=settings.cpu_overcommit, ram=settings.ram_overcommit)


@dataclass(frozen=True)
class Need:
    """What a VM asks of a hypervisor."""

    cores: int
    ram: int
    local_bytes: int
    method: str


def need_of(vm: Vm, method: str | None = None) -> Need:
    local = sum(d.size for d in vm.disks if d.storage_type.name in LOCAL_STORAGE_TYPES)
    if method is None:
        if vm.node_method is None:
            raise InvalidInput(
                "the VM is not placed yet; name the virtualisation method",
                errors={"method": ["required"]},
            )
        method = vm.node_method.virt_method.name
    return Need(cores=vm.cores, ram=vm.ram, local_bytes=local, method=method)


def fmt_bytes(n: float) -> str:
    gib = n / GiB
    if gib == int(gib):
        return f"{int(gib)} GiB"
    return f"{gib:.1f} GiB" if abs(gib) >= 1 else f"{int(n // 1024**2)} MiB"


def fmt_cores(n: float) -> str:
    return str(int(n)) if n == int(n) else f"{n:.1f}"


def short(fqdn: str) -> str:
    return fqdn.split(".")[0]


def lock(session: Session) -> None:
    """Serialise placement decisions until this transaction ends."""
    advisory_lock(session, "placement")


def _load(h: HypervisorUsage, need: Need, oc: Overcommit) -> float:
    return max(
        (h.used_cores + need.cores) / (h.cores * oc.cpu),
        (h.used_ram + need.ram) / (h.ram * oc.ram),
    )


def choose(
    session: Session,
    need: Need,
    overcommit: Overcommit,
    candidates: Iterable[HypervisorUsage] | None = None,
) -> HypervisorUsage:
    """The least-loaded qualifying hypervisor, or a 409 saying which resource ran out."""
    hvs = list(hypervisor_usage(session) if candidates is None else candidates)
    if not hvs:
        raise Conflict("no hypervisor is registered", code="no_capacity")
    pool = [h for h in hvs if h.state == "running"]
    if not pool:
        raise Conflict(
            f"no hypervisor is in state running ({len(hvs)} registered)", code="no_capacity"
        )
    pool = [h for h in pool if need.method in h.methods]
    if not pool:
        raise Conflict(
            f"no running hypervisor supports virtualisation method {need.method!r}",
            code="no_capacity",
            errors={"method": ["no running hypervisor supports it"]},
        )
    label = f"running hypervisor with {need.method}"

    fits = [h for h in pool if h.free_ram(overcommit.ram) >= need.ram]
    if not fits:
        best = max(pool, key=lambda h: h.free_ram(overcommit.ram))
        raise Conflict(
            f"no {label} has {fmt_bytes(need.ram)} RAM free (largest free: "
            f"{fmt_bytes(max(best.free_ram(overcommit.ram), 0))} on {short(best.fqdn)})",
            code="no_capacity",
            errors={"ram": ["no hypervisor has this much free"]},
        )
    pool, label = fits, f"{label} and {fmt_bytes(need.ram)} RAM free"

    fits = [h for h in pool if h.free_cores(overcommit.cpu) >= need.cores]
    if not fits:
        best = max(pool, key=lambda h: h.free_cores(overcommit.cpu))
        raise Conflict(
            f"no {label} has {need.cores} cores free (most free: "
            f"{fmt_cores(max(best.free_cores(overcommit.cpu), 0))} on {short(best.fqdn)}, "
            f"CPU overcommit {overcommit.cpu:g})",
            code="no_capacity",
            errors={"cores": ["no hypervisor has this many free"]},
        )
    pool, label = fits, f"{label} and {need.cores} cores free"

    if need.local_bytes:
        fits = [h for h in pool if h.free_local_bytes >= need.local_bytes]
        if not fits:
            best = max(pool, key=lambda h: h.free_local_bytes)
            raise Conflict(
                f"no {label} has {fmt_bytes(need.local_bytes)} local storage free (largest "
                f"free: {fmt_bytes(max(best.free_local_bytes, 0))} on {short(best.fqdn)})",
                code="no_capacity",
                errors={"disks": ["no hypervisor has this much local storage free"]},
            )
        pool = fits
    return min(pool, key=lambda h: (_load(h, need, overcommit), h.vm_count, h.fqdn))


def check_fits(h: HypervisorUsage, need: Need, overcommit: Overcommit) -> None:
    """Validate an operator's choice the same way automatic placement would."""
    name = short(h.fqdn)
    problems = []
    if h.state != "running":
        problems.append(f"it is in state {h.state}, not running")
    if need.method not in h.methods:
        known = ", ".join(h.methods) or "none"
        problems.append(f"it does not support {need.method} (it has: {known})")
    if h.free_ram(overcommit.ram) < need.ram:
        problems.append(
            f"it has {fmt_bytes(max(h.free_ram(overcommit.ram), 0))} RAM free, "
            f"the VM needs {fmt_bytes(need.ram)}"
        )
    if h.free_cores(overcommit.cpu) < need.cores:
        problems.append(
            f"it has {fmt_cores(max(h.free_cores(overcommit.cpu), 0))} cores free, "
            f"the VM needs {need.cores}"
        )
    if need.local_bytes and h.free_local_bytes < need.local_bytes:
        problems.append(
            f"it has {fmt_bytes(max(h.free_local_bytes, 0))} local storage free, "
            f"the VM needs {fmt_bytes(need.local_bytes)}"
        )
    if problems:
        raise Conflict(
            f"the VM cannot go to {name}: " + "; ".join(problems),
            code="no_capacity",
            errors={"hypervisor": problems},
        )


def find_hypervisor(session: Session, ref: str | int) -> VirtNode:
    """A hypervisor by its node's fqdn (or short name, if unambiguous) or node id."""
    query = select(VirtNode).join(Node, Node.id == VirtNode.node_id)
    return node_by_ref(session, ref, query, short_name=True, what="hypervisor")


def node_method(session: Session, virt_node_id: int, method: str) -> NodeMethod:
    row = session.scalars(
        select(NodeMethod)
        .join(VirtMethod, VirtMethod.id == NodeMethod.virt_method_id)
        .where(NodeMethod.virt_node_id == virt_node_id, VirtMethod.name == method)
    ).one_or_none()
    if row is None:
        raise Conflict(f"the hypervisor does not support {method}")
    return row


def _target(session: Session, hypervisor: str | int | None, virt_node_id: int | None) -> VirtNode:
    if virt_node_id is not None:
        row = session.get(VirtNode, virt_node_id)
        if row is None:
            raise NotFound(
                f"no virt node with id {virt_node_id}",
                errors={"virt_node_id": [f"no virt node with id {virt_node_id}"]},
            )
        return row
    return find_hypervisor(session, hypervisor)  # type: ignore[arg-type]


@_counts_refusals
def place(
    session: Session,
    need: Need,
    overcommit: Overcommit,
    hypervisor: str | int | None = None,
    *,
    virt_node_id: int | None = None,
) -> NodeMethod:
    """Decide where a VM with ``need`` goes; the caller holds :func:`lock` until commit."""
    if hypervisor is None and virt_node_id is None:
        chosen = choose(session, need, overcommit)
    else:
        target = _target(session, hypervisor, virt_node_id)
        chosen = hypervisor_usage(session, [target.id])[0]
        check_fits(chosen, need, overcommit)
    return node_method(session, chosen.virt_node_id, need.method)


@_counts_refusals
def check_resize(session: Session, vm: Vm, cores: int, ram: int, overcommit: Overcommit) -> None:
    """A placed VM may grow only as far as its hypervisor has room (its old size excluded)."""
    if vm.node_method is None:
        return
    lock(session)
    old = need_of(vm)
    here = _without(hypervisor_usage(session, [vm.node_method.virt_node_id])[0], old)
    # The host's state does not matter for a VM already there, only its room.
    problems = []
    if here.free_ram(overcommit.ram) < ram:
        problems.append(
            f"it has {fmt_bytes(max(here.free_ram(overcommit.ram), 0))} RAM free for this VM, "
            f"{fmt_bytes(ram)} requested"
        )
    if here.free_cores(overcommit.cpu) < cores:
        problems.append(
            f"it has {fmt_cores(max(here.free_cores(overcommit.cpu), 0))} cores free for this "
            f"VM, {cores} requested"
        )
    if problems:
        raise Conflict(
            f"VM {vm.hostname} cannot grow on {short(here.fqdn)}: "
            + "; ".join(problems)
            + "; migrate it first",
            code="no_capacity",
            errors={"cores" if here.free_cores(overcommit.cpu) < cores else "ram": problems},
        )


@_counts_refusals
def migrate(
    session: Session,
    vm: Vm,
    overcommit: Overcommit,
    hypervisor: str | int | None = None,
    method: str | None = None,
    *,
    virt_node_id: int | None = None,
) -> NodeMethod:
    """Place an unplaced VM or move a placed one (to ``hypervisor``, or wherever fits best).

    The VM's own commitment is left out: it counts on its current hypervisor, never twice.
    """
    if vm.requested_state is not None and vm.requested_state.name == "deleted":
        raise Conflict(f"VM {vm.hostname} is being deleted; it cannot be moved")
    lock(session)
    need = need_of(vm, method)
    current = vm.node_method.virt_node_id if vm.node_method is not None else None
    if hypervisor is None and virt_node_id is None:
        others = [h for h in hypervisor_usage(session) if h.virt_node_id != current]
        chosen = choose(session, need, overcommit, others)
    else:
        target = _target(session, hypervisor, virt_node_id)
        current_method = vm.node_method.virt_method.name if vm.node_method else None
        if target.id == current and need.method == current_method:
            raise Conflict(
                f"VM {vm.hostname} is already on {short(target.node.fqdn)}",
                errors={"hypervisor": ["current hypervisor"]},
            )
        chosen = hypervisor_usage(session, [target.id])[0]
        if target.id == current:
            # Same host, other method: its own resources are already counted there.
            chosen = _without(chosen, need)
        check_fits(chosen, need, overcommit)
    vm.node_method = node_method(session, chosen.virt_node_id, need.method)
    session.flush()
    return vm.node_method


def _without(h: HypervisorUsage, need: Need) -> HypervisorUsage:
    return replace(
        h,
        vm_count=h.vm_count - 1,
        used_cores=h.used_cores - need.cores,
        used_ram=h.used_ram - need.ram,
        used_local_bytes=h.used_local_bytes - need.local_bytes,
    )
