"""VM pages that change things: create, start/stop/reboot, reinstall, resize, delete, disks,
interfaces, and the customer's own VLANs.

Each view only turns the form into the API's JSON body and calls what the REST endpoint calls
(``forms.create/update/delete`` with the API's resource, ``lifecycle.request``,
``installs.request_vm_install``); a failure re-renders the page with the message next to the
field and the input kept.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from ..api.compute import VMS
from ..api.etag import etag_of
from ..api.network import INTERFACES, VLANS
from ..api.storage import STORAGE
from ..config import current_settings
from ..db import get_session
from ..models import CacheOption, CustomerQuota, Image, Ipv4Network, StorageType, Vlan, Vm
from ..services import installs, inventory, lifecycle
from ..services import quotas as quota_service
from ..services.lookups import vm_by_uuid
from . import bp, forms, list_specs, login

DISK_ROWS = 2
INTERFACE_ROWS = 2


def _customer() -> int | None:
    me = login.principal()
    return me.customer_id if me.is_customer else None


def vm_version(vm: Vm) -> str:
    """What the resize form's ETag is made of: it changes with every edit of the VM row."""
    return etag_of([vm.cores, vm.ram, vm.updated_at])


def _choices(session: Session, customer: int | None) -> dict[str, Any]:
    vlans = select(Vlan).order_by(Vlan.vni)
    if customer is not None:
        vlans = vlans.where(Vlan.customer_id == customer)
    return {
        "storage_types": session.scalars(select(StorageType).order_by(StorageType.name)).all(),
        "cache_options": session.scalars(select(CacheOption).order_by(CacheOption.name)).all(),
        "images": session.scalars(select(Image).order_by(Image.name)).all(),
        "vlans": session.scalars(vlans.limit(500)).all(),
        # Customers do not list networks (API: readers only); their addresses come with VLANs.
        # Node networks (with a purpose) never give VM addresses.
        "networks": []
        if customer is not None
        else session.scalars(
            select(Ipv4Network)
            .where(Ipv4Network.purpose.is_(None))
            .order_by(Ipv4Network.id)
            .limit(500)
        ).all(),
    }


def _quota(session: Session, customer: int | None) -> dict[str, Any] | None:
    """The customer's limits, usage and what is left (None: no quota or not a customer)."""
    if customer is None:
        return None
    quota = session.get(CustomerQuota, customer)
    if quota is None:
        return None
    used = quota_service.usage(session, customer)
    rows = []
    for key, label, limit, current, unit in (
        ("vms", "VMs", quota.max_vms, used.vms, "count"),
        ("cores", "Cores", quota.max_cores, used.cores, "count"),
        ("ram", "RAM", quota.max_ram, used.ram, "bytes"),
        ("disk", "Disk", quota.max_disk, used.disk, "bytes"),
    ):
        left = None if limit is None else max(0, limit - current)
        rows.append({"key": key, "label": label, "limit": limit, "used": current,
                     "left": left, "unit": unit})  # fmt: skip
    return {"rows": rows}


# --- create -------------------------------------------------------------------------------------


def _create_body(form: Any, staff: bool) -> dict[str, Any]:
    disks = []
    for i in range(DISK_ROWS):
        size = forms.size(form, f"disks.{i}.size")
        if size is None:
            continue
        disks.append(
            forms.present(
                size=size,
                storage_type=forms.text(form, f"disks.{i}.storage_type"),
                cache_option=forms.text(form, f"disks.{i}.cache_option"),
            )
        )
    interfaces = []
    for i in range(INTERFACE_ROWS):
        if not form.get(f"interfaces.{i}.enabled"):
            continue
        vlans = forms.integers(form, f"interfaces.{i}.vlans")
        row: dict[str, Any] = {"vlans": vlans}
        if staff:
            row.update(forms.present(ipv4_network_id=forms.integer(form, f"interfaces.{i}.ipv4")))
        interfaces.append(row)
    body = forms.present(
        hostname=forms.text(form, "hostname"),
        cores=forms.integer(form, "cores"),
        ram=forms.size(form, "ram"),
        customer_id=forms.integer(form, "customer_id") if staff else None,
        requested_state="running" if form.get("start") else None,
    )
    return {**body, "disks": disks, "interfaces": interfaces}


@bp.route("/vms/new", methods=["GET", "POST"])
@login.signed_in
def vm_new() -> Any:
    session = get_session()
    me = login.principal()
    customer = _customer()
    outcome = forms.Outcome()
    if request.method == "POST":
        login.check_csrf()
        body = _create_body(request.form, staff=not me.is_customer)
        image = forms.text(request.form, "image")

        def work(session: Session) -> Vm:
            forms.writable(VMS)
            data = VMS.create_schema().load(body)  # type: ignore[misc]
            vm = VMS.create(session, me, data)  # type: ignore[misc]
            if image is not None:
                session.flush()
                installs.request_vm_install(
                    session, vm, image=image, secret_key=current_settings().secret_key
                )
            return vm

        outcome = forms.run(work)
        if outcome.ok:
            return redirect(url_for("web.vm", vm_uuid=outcome.obj.uuid), code=303)
    status = forms.FORM_ERROR_STATUS if not outcome.ok else 200
    return render_template(
        "vm_new.html",
        form=request.form,
        outcome=outcome,
        quota=_quota(session, customer),
        disk_rows=DISK_ROWS,
        interface_rows=INTERFACE_ROWS,
        **_choices(session, customer),
    ), status


# --- one VM -------------------------------------------------------------------------------------


def render_vm(vm_uuid: str, outcome: forms.Outcome | None = None, status: int = 200) -> Any:
    session = get_session()
    customer = _customer()
    vm = inventory.vm_detail(session, vm_uuid, customer)
    return render_template(
        "vm.html",
        vm=vm,
        outcome=outcome or forms.Outcome(),
        form=request.form if outcome is not None and not outcome.stale else MultiDict(),
        version=vm_version(vm),
        **_choices(session, customer),
    ), status


def done(vm_uuid: str, outcome: forms.Outcome) -> Any:
    if outcome.ok:
        return redirect(url_for("web.vm", vm_uuid=vm_uuid), code=303)
    get_session().expire_all()
    return render_vm(vm_uuid, outcome, 409 if outcome.stale else forms.FORM_ERROR_STATUS)


@bp.post("/vms/<vm_uuid>/action")
@login.signed_in
def vm_action(vm_uuid: str) -> Any:
    login.check_csrf()
    action = request.form.get("action", "")
    if action == "delete":
        if not request.form.get("confirm"):
            message = "Tick the box to confirm: deleting a VM cannot be undone."
            return done(vm_uuid, forms.Outcome(message=message, errors={"confirm": [message]}))
        vm = vm_by_uuid(get_session(), vm_uuid, _customer())
        outcome = forms.delete(VMS, vm.id)
        if outcome.ok:
            return redirect(url_for("web.vms"), code=303)
        return done(vm_uuid, outcome)

    def work(session: Session) -> Vm:
        forms.writable(VMS)
        vm = vm_by_uuid(session, vm_uuid, _customer())
        return lifecycle.request(session, vm, action)

    return done(vm_uuid, forms.run(work))


@bp.post("/vms/<vm_uuid>/reinstall")
@login.signed_in
def vm_reinstall(vm_uuid: str) -> Any:
    login.check_csrf()
    image = forms.text(request.form, "image")

    def work(session: Session) -> Any:
        forms.writable(VMS)
        vm = vm_by_uuid(session, vm_uuid, _customer())
        if image is None:
            raise forms.field_error("image", "choose an image to install")
        return installs.request_vm_install(
            session, vm, image=image, secret_key=current_settings().secret_key
        )

    return done(vm_uuid, forms.run(work))


@bp.post("/vms/<vm_uuid>/resize")
@login.signed_in
def vm_resize(vm_uuid: str) -> Any:
    login.check_csrf()
    vm = vm_by_uuid(get_session(), vm_uuid, _customer())
    body = forms.present(
        cores=forms.integer(request.form, "cores"), ram=forms.size(request.form, "ram")
    )
    outcome = forms.update(VMS, vm.id, body, request.form.get("etag", ""), vm_version)
    return done(vm_uuid, outcome)


@bp.post("/vms/<vm_uuid>/disks")
@login.signed_in
def vm_add_disk(vm_uuid: str) -> Any:
    login.check_csrf()
    vm = vm_by_uuid(get_session(), vm_uuid, _customer())
    form = request.form
    body = forms.present(
        vm_id=vm.id,
        size=forms.size(form, "size"),
        storage_type=forms.text(form, "storage_type"),
        cache_option=forms.text(form, "cache_option"),
    )
    return done(vm_uuid, forms.create(STORAGE, body))


@bp.post("/vms/<vm_uuid>/disks/<int:disk_id>/delete")
@login.signed_in
def vm_remove_disk(vm_uuid: str, disk_id: int) -> Any:
    return _remove_part(vm_uuid, STORAGE, disk_id)


@bp.post("/vms/<vm_uuid>/interfaces")
@login.signed_in
def vm_add_interface(vm_uuid: str) -> Any:
    login.check_csrf()
    vm = vm_by_uuid(get_session(), vm_uuid, _customer())
    vlans = forms.integers(request.form, "vlans")
    return done(vm_uuid, forms.create(INTERFACES, {"vm_id": vm.id, "vlans": vlans}))


@bp.post("/vms/<vm_uuid>/interfaces/<int:iface_id>/delete")
@login.signed_in
def vm_remove_interface(vm_uuid: str, iface_id: int) -> Any:
    return _remove_part(vm_uuid, INTERFACES, iface_id)


def _remove_part(vm_uuid: str, resource: Any, key: int) -> Any:
    """A disk or interface of this VM, deleted through its API resource (others: 404)."""
    login.check_csrf()
    vm = vm_by_uuid(get_session(), vm_uuid, _customer())
    part = get_session().get(resource.model, key)
    if part is None or part.vm_id != vm.id:
        return done(
            vm_uuid, forms.Outcome(message=f"VM {vm.hostname} has no {resource.title} {key}")
        )
    return done(vm_uuid, forms.delete(resource, key))


# --- VLANs --------------------------------------------------------------------------------------


@bp.route("/vlans", methods=["GET", "POST"])
@login.signed_in
def vlans() -> Any:
    session = get_session()
    me = login.principal()
    outcome = forms.Outcome()
    if request.method == "POST":
        login.check_csrf()
        body = forms.present(
            name=forms.text(request.form, "name"),
            description=forms.text(request.form, "description"),
            vni=None if me.is_customer else forms.integer(request.form, "vni"),
            customer_id=None if me.is_customer else forms.integer(request.form, "customer_id"),
        )
        if me.is_customer:
            body["customer_id"] = me.customer_id
        outcome = forms.create(VLANS, body)
        if outcome.ok:
            return redirect(url_for("web.vlans"), code=303)
    return _vlan_page(session, outcome)


def _vlan_page(session: Session, outcome: forms.Outcome) -> Any:
    customer = _customer()
    listing = list_specs.VLAN_LIST.read(staff=customer is None)
    rows = select(Vlan)
    if customer is not None:
        rows = rows.where(Vlan.customer_id == customer)
    return render_template(
        "vlans.html",
        vlans=listing.fetch(session, rows),
        listing=listing,
        outcome=outcome,
        form=request.form,
    ), (200 if outcome.ok else forms.FORM_ERROR_STATUS)


@bp.post("/vlans/<int:vlan_id>/delete")
@login.signed_in
def vlan_delete(vlan_id: int) -> Any:
    login.check_csrf()
    outcome = forms.delete(VLANS, vlan_id)
    if outcome.ok:
        return redirect(url_for("web.vlans"), code=303)
    get_session().expire_all()
    return _vlan_page(get_session(), outcome)
