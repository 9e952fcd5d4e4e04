"""VXLAN-backed VLANs: VNIs handed out once, customers' private layer-2 networks kept private."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from ... import values
from ...models import Vlan, VmInterface
from ...values import MAX_VNI
from ..caller import Caller, customer_of, operators_only
from ..errors import Conflict, InvalidInput, NotFound
from ..locks import advisory_lock
from ..validation import checked


def check_range(vni_range: tuple[int, int]) -> tuple[int, int]:
    low, high = vni_range
    if not 1 <= low <= high <= MAX_VNI:
        raise InvalidInput(f"VNI range {low}-{high} must lie within 1-{MAX_VNI}")
    return low, high


def free_vni(session: Session, vni_range: tuple[int, int]) -> int:
    """The lowest unused VNI of the range, found in SQL (no VNI list is loaded)."""
    low, high = check_range(vni_range)
    if session.scalar(select(Vlan.id).where(Vlan.vni == low)) is None:
        return low
    nxt = aliased(Vlan)
    gap = session.scalar(
        select(func.min(Vlan.vni + 1)).where(
            Vlan.vni >= low,
            Vlan.vni < high,
            ~exists().where(nxt.vni == Vlan.vni + 1),
        )
    )
    if gap is None:
        raise Conflict(
            f"every VNI of the range {low}-{high} is in use; widen VIRTAPI_VNI_RANGE",
            code="exhausted",
        )
    return int(gap)


def assign_vni(
    session: Session, vlan: Vlan, vni: int | None, vni_range: tuple[int, int] | None = None
) -> int:
    """Give ``vlan`` the VNI asked for (409 if another VLAN has it) or the lowest free one of
    ``vni_range`` (VIRTAPI_VNI_RANGE).

    The lock, held until commit, serialises VNI choices: two transactions cannot both find
    the same gap, nor both take the same VNI.
    """
    with session.no_autoflush:  # the VLAN may hang off persistent rows without a VNI yet
        advisory_lock(session, "vlan.vni")
        if vni is None:
            if vni_range is None:
                raise InvalidInput("a VNI or a VNI range to allocate from is required")
            vlan.vni = free_vni(session, vni_range)
            return vlan.vni
        vni = checked(values.parse_vni, vni, "vni")
        taken = session.scalars(select(Vlan).where(Vlan.vni == vni)).one_or_none()
        if taken is not None and taken is not vlan:
            raise Conflict(
                f"VNI {vni} is already used by VLAN {taken.name!r} (id {taken.id})",
                errors={"vni": ["already in use"]},
            )
        vlan.vni = vni
        return vni


def get_vlan(session: Session, vlan_id: int, customer_id: int | None = None) -> Vlan:
    """The VLAN; for a customer (``customer_id`` set) only their own, others are 'not found'."""
    vlan = session.get(Vlan, vlan_id)
    if vlan is None or (customer_id is not None and vlan.customer_id != customer_id):
        raise NotFound(f"VLAN {vlan_id} does not exist")
    return vlan


def check_member(vlan: Vlan, interface: VmInterface) -> None:
    """A customer's VLAN carries only that customer's VMs (no node, no other customer).

    Nobody, operators included, can bridge another customer's VM (or a node) into it.
    """
    if vlan.customer_id is None:
        return
    owner = interface.vm.customer_id if interface.vm is not None else None
    if owner != vlan.customer_id:
        raise Conflict(
            f"VLAN {vlan.name!r} (VNI {vlan.vni}) is private to customer {vlan.customer_id}; "
            "only that customer's VMs may join it",
            errors={"vlan": ["private to another customer"]},
        )


def set_members(session: Session, vlan: Vlan, interfaces: Sequence[VmInterface]) -> None:
    """Make exactly ``interfaces`` members of ``vlan`` (recorded in the change log)."""
    for iface in interfaces:
        check_member(vlan, iface)
    vlan.interfaces[:] = list({id(i): i for i in interfaces}.values())


def set_vlans(session: Session, interface: VmInterface, vlans: Sequence[Vlan]) -> None:
    """Make ``interface`` a member of exactly ``vlans`` (the same rule from the other side)."""
    for vlan in vlans:
        check_member(vlan, interface)
    interface.vlans[:] = list({id(v): v for v in vlans}.values())


def _operator_fields(caller: Caller, data: dict[str, Any]) -> None:
    customer = customer_of(caller)
    given = [k for k in ("vni",) if k in data]
    if "customer_id" in data and data["customer_id"] != customer:
        given.append("customer_id")
    operators_only(caller, given, "VNIs or other customers' VLANs")


def create_vlan(
    session: Session, caller: Caller, data: dict[str, Any], vni_range: tuple[int, int]
) -> Vlan:
    """A VLAN (customers: their own); the VNI is allocated from ``vni_range`` unless an operator
    gives one. ``data["members"]`` holds resolved interfaces."""
    _operator_fields(caller, data)
    values = dict(data)
    members = values.pop("members", [])
    vni = values.pop("vni", None)
    if customer_of(caller) is not None:
        values["customer_id"] = customer_of(caller)
    vlan = Vlan(**values)
    set_members(session, vlan, members)
    assign_vni(session, vlan, vni, vni_range)
    session.add(vlan)
    session.flush()
    return vlan


def update_vlan(session: Session, caller: Caller, vlan: Vlan, data: dict[str, Any]) -> None:
    _operator_fields(caller, data)
    values = dict(data)
    if "members" in values:
        set_members(session, vlan, values.pop("members"))
    if "vni" in values:
        assign_vni(session, vlan, values.pop("vni"))
    for key, value in values.items():
        setattr(vlan, key, value)
