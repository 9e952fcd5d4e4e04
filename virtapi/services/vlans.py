"""VXLAN-backed VLANs: VNIs handed out once, customers' private layer-2 networks kept private."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, aliased

from ..models import Vlan, VmInterface
from ..models.network import MAX_VNI
from .errors import Conflict, InvalidInput, NotFound
from .locks import advisory_lock


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


def create_vlan(
    session: Session,
    name: str,
    *,
    vni_range: tuple[int, int],
    vni: int | None = None,
    customer_id: int | None = None,
    description: str = "",
) -> Vlan:
    """A VLAN with the given VNI (409 if taken) or the lowest free one of ``vni_range``."""
    if not name or not name.strip():
        raise InvalidInput("a VLAN needs a name", errors={"name": ["required"]})
    # Serialises VNI choices: two transactions must not both find the same gap.
    advisory_lock(session, "vlan.vni")
    if vni is None:
        vni = free_vni(session, vni_range)
    else:
        if not 1 <= vni <= MAX_VNI:
            raise InvalidInput(
                f"VNI {vni} is out of range 1-{MAX_VNI}", errors={"vni": ["out of range"]}
            )
        taken = session.scalars(select(Vlan).where(Vlan.vni == vni)).one_or_none()
        if taken is not None:
            raise Conflict(
                f"VNI {vni} is already used by VLAN {taken.name!r} (id {taken.id})",
                errors={"vni": ["in use"]},
            )
    vlan = Vlan(vni=vni, name=name.strip(), customer_id=customer_id, description=description)
    session.add(vlan)
    session.flush()
    return vlan


def get_vlan(session: Session, vlan_id: int, customer_id: int | None = None) -> Vlan:
    """The VLAN; for a customer (``customer_id`` set) only their own, others are 'not found'."""
    vlan = session.get(Vlan, vlan_id)
    if vlan is None or (customer_id is not None and vlan.customer_id != customer_id):
        raise NotFound(f"VLAN {vlan_id} does not exist")
    return vlan


def check_member(vlan: Vlan, interface: VmInterface) -> None:
    """A customer's VLAN carries only that customer's VMs (no node, no other customer)."""
    if vlan.customer_id is None:
        return
    owner = interface.vm.customer_id if interface.vm is not None else None
    if owner != vlan.customer_id:
        raise Conflict(
            f"VLAN {vlan.name!r} (VNI {vlan.vni}) is private to customer {vlan.customer_id}; "
            "only that customer's VMs may join it",
            errors={"vlan": ["private to another customer"]},
        )


def attach(
    session: Session, vlan: Vlan, interface: VmInterface, customer_id: int | None = None
) -> None:
    """Make ``interface`` a member of ``vlan``.

    A customer's VLAN carries only that customer's VMs: nobody, operators included, can bridge
    another customer's VM (or a node) into it. A customer may only attach their own VM's
    interfaces to their own VLANs.
    """
    owner = interface.vm.customer_id if interface.vm is not None else None
    if customer_id is not None and (vlan.customer_id != customer_id or owner != customer_id):
        raise NotFound("no such VLAN or interface")
    check_member(vlan, interface)
    if vlan not in interface.vlans:
        interface.vlans.append(vlan)
        session.flush()


def detach(session: Session, vlan: Vlan, interface: VmInterface) -> None:
    if vlan in interface.vlans:
        interface.vlans.remove(vlan)
        session.flush()
