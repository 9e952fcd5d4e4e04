"""One-shot network installs of a VM or a node: request, progress, done, failure.

The machine being installed has no API token. It proves itself with a per-install secret
embedded in the URLs iPXE follows. Only the secret's sha256 is stored; the secret itself is an
HMAC of the install's identity under the application's secret key, so the iPXE endpoint can
hand it out again on every (re)boot during the install window without it ever sitting in the
database in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid as uuidlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..models import (
    Image,
    Install,
    Ipv4Address,
    Ipv6Address,
    Node,
    NodeMethod,
    Storage,
    VirtNode,
    Vm,
    VmInterface,
    VmState,
)
from ..models.base import utcnow
from . import install_fields as fields
from .errors import Conflict, NotFound
from .lookups import by_name

with warnings.catch_warnings():
    # passlib probes the stdlib crypt module, deprecated since 3.11; its own backend suffices.
    warnings.simplefilter("ignore", DeprecationWarning)
    from passlib.hash import sha512_crypt

ACTIVE_STATES = ("pending", "running")
# 8-4-4-4-12 hex digits, dashes optional, optionally in braces: what iPXE's ${uuid}, dmidecode,
# libvirt and Windows print. Stricter than uuid.UUID(), which lets int() swallow '0x', '_', '+'.
_UUID_BODY = r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}"
_UUID_RE = re.compile(rf"(?:urn:uuid:)?(?:{_UUID_BODY}|\{{{_UUID_BODY}\}})", re.IGNORECASE)
# Firmware without a real UUID reports one of these: every such machine presents the same value.
_PLACEHOLDER_UUIDS = frozenset({uuidlib.UUID(int=0), uuidlib.UUID(int=(1 << 128) - 1)})
# A VM's disks are virtio devices in the order they were added; the first is the system disk.
# Only that one is named to installimage, which wipes every DRIVE it is given.
VM_SYSTEM_DRIVE = "/dev/vda"
NODE_SYSTEM_DRIVE = "/dev/sda"
# crypt(3)'s default for SHA-512 ($6$), what `mkpasswd -m sha-512` and `openssl passwd -6` write.
PASSWORD_ROUNDS = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Address:
    """An address of the machine with its network's prefix length and gateway."""

    address: str
    prefixlen: int
    gateway: str | None
    version: int

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True)
class Nic:
    mac: str
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class InstallPlan:
    """Everything the installimage config says, taken from validated inventory data only."""

    install_id: int
    target: str  # "vm" or "node"
    hostname: str
    image_name: str
    image_url: str
    image_checksum: str
    partitioning: str
    drive: str
    ssh_keys: tuple[str, ...]
    root_password_hash: str | None
    nics: tuple[Nic, ...]


# --- secrets -------------------------------------------------------------------------------


def _key(secret_key: str | bytes) -> bytes:
    return secret_key.encode() if isinstance(secret_key, str) else secret_key


def install_secret(install: Install, secret_key: str | bytes) -> str:
    """The install's URL secret: 64 hex digits, unguessable without the application key."""
    target = f"vm:{install.vm_id}" if install.vm_id is not None else f"node:{install.node_id}"
    # Integer microseconds: independent of the time zone the database hands the value back in.
    stamp = (install.created_at - _EPOCH) // timedelta(microseconds=1)
    message = f"virtapi-install:{target}:{stamp}".encode()
    return hmac.new(_key(secret_key), message, hashlib.sha256).hexdigest()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(install: Install, candidate: str | None) -> bool:
    """Constant-time check of a presented secret against the stored hash."""
    if not candidate or not fields.SECRET_RE.fullmatch(candidate):
        return False
    return hmac.compare_digest(secret_hash(candidate), install.secret_hash)


# --- machine identity ------------------------------------------------------------------------


def parse_machine_uuid(value: Any) -> uuidlib.UUID | None:
    """A SMBIOS UUID in any usual spelling (dashes or not, any case, braces), else None."""
    if isinstance(value, uuidlib.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    if not _UUID_RE.fullmatch(text):
        return None
    return uuidlib.UUID(text)


_UNUSABLE = object()


def _facts_uuid(facts: Any) -> Any:
    """The node's SMBIOS UUID as its heartbeat facts carry it, if at all.

    ``uuid`` is Salt's grain and Facter's legacy fact; ``dmi.product.uuid`` is Facter's
    structured fact (Puppet 8 turns legacy facts off by default).
    """
    if not isinstance(facts, dict):
        return None
    value = facts.get("uuid")
    if value is None:
        dmi = facts.get("dmi")
        product = dmi.get("product") if isinstance(dmi, dict) else None
        value = product.get("uuid") if isinstance(product, dict) else None
    return value


def _expected_machine_uuid(install: Install) -> Any:
    """The SMBIOS UUID the booting machine must present, None if none is recorded.

    A VM's is its own UUID (libvirt gives the guest the domain UUID as SMBIOS system UUID).
    A node's comes from its reported facts. A recorded value that is no usable UUID (garbage,
    or a firmware placeholder every board reports) yields ``_UNUSABLE``: it matches nothing,
    so a broken fact fails closed rather than silently dropping the check.
    """
    if install.vm is not None:
        return install.vm.uuid
    raw = _facts_uuid(install.node.facts if install.node is not None else None)
    if raw is None:
        return None
    parsed = parse_machine_uuid(raw)
    if parsed is None or parsed in _PLACEHOLDER_UUIDS:
        return _UNUSABLE
    return parsed


def machine_identity_recorded(install: Install) -> bool:
    """False only for a node with no SMBIOS UUID in its facts: the allow-list is all that's left."""
    return _expected_machine_uuid(install) is not None


def machine_identity_matches(install: Install, presented: Any) -> bool:
    """Whether the booting machine's presented SMBIOS UUID is the one on record.

    True without a check only when nothing is recorded (a node that never reported its UUID).
    The comparison is constant-time over the 16 bytes, so response times say nothing about
    how much of a guess was right.
    """
    expected = _expected_machine_uuid(install)
    if expected is None:
        return True
    candidate = parse_machine_uuid(presented)
    if candidate is None or expected is _UNUSABLE:
        return False
    return hmac.compare_digest(candidate.bytes, expected.bytes)


def hash_root_password(password: str) -> str:
    return sha512_crypt.using(rounds=PASSWORD_ROUNDS).hash(password)


# --- requesting ----------------------------------------------------------------------------


def active_install(
    session: Session, *, vm_id: int | None = None, node_id: int | None = None
) -> Install | None:
    """The pending or running install of a VM or node, if any."""
    stmt = select(Install).where(Install.state.in_(ACTIVE_STATES))
    stmt = stmt.where(Install.vm_id == vm_id) if vm_id is not None else stmt
    stmt = stmt.where(Install.node_id == node_id) if node_id is not None else stmt
    return session.scalar(stmt)


def latest_install(
    session: Session, *, vm_id: int | None = None, node_id: int | None = None
) -> Install | None:
    """The machine's most recent install, active or finished."""
    column = Install.vm_id if vm_id is not None else Install.node_id
    target = vm_id if vm_id is not None else node_id
    return session.scalar(
        select(Install).where(column == target).order_by(Install.id.desc()).limit(1)
    )


def _image(session: Session, image: Any) -> Image:
    if isinstance(image, Image):
        return image
    if not isinstance(image, str) or not image:
        raise fields._invalid("image", "name an image from /api/v1/images")
    row = session.scalar(select(Image).where(Image.name == image))
    if row is None:
        names = ", ".join(session.scalars(select(Image.name).order_by(Image.name))) or "none yet"
        raise fields._invalid("image", f"unknown image {image!r}; known: {names}")
    return row


def _new_install(
    session: Session,
    *,
    vm: Vm | None,
    node: Node | None,
    image: Any,
    hostname: str,
    partitioning: str | None,
    ssh_keys: Any,
    root_password: str | None,
    secret_key: str | bytes,
) -> tuple[Install, str]:
    what = f"VM {vm.uuid}" if vm is not None else f"node {node.fqdn}"  # type: ignore[union-attr]
    current = active_install(
        session,
        vm_id=vm.id if vm is not None else None,
        node_id=node.id if node is not None else None,
    )
    if current is not None:
        started = current.created_at.strftime("%Y-%m-%d %H:%M:%S")
        raise Conflict(
            f"{what} already has an install {current.state} (requested {started} UTC); "
            "wait until it is done or cancel it first",
            code="install_active",
        )
    image_row = _image(session, image)
    parts = (
        fields.partitioning(partitioning)
        if partitioning not in (None, "")
        else fields.partitioning(image_row.partitioning, "image partitioning")
    )
    install = Install(
        vm_id=vm.id if vm is not None else None,
        node_id=node.id if node is not None else None,
        image=image_row,
        hostname=fields.hostname(hostname),
        partitioning=parts,
        ssh_keys=fields.ssh_keys(ssh_keys),
        root_password_hash=None,
        state="pending",
        phase="requested",
        percent=0,
        message="",
        created_at=utcnow(),
    )
    password = fields.root_password(root_password)
    if password is not None:
        install.root_password_hash = hash_root_password(password)
    secret = install_secret(install, secret_key)
    install.secret_hash = secret_hash(secret)
    try:
        # A concurrent request for the same machine passed the check above too; the partial
        # unique index lets only one of them through.
        with session.begin_nested():
            session.add(install)
    except IntegrityError:
        raise Conflict(
            f"{what} got another install request at the same moment; see its install",
            code="install_active",
        ) from None
    return install, secret


def request_vm_install(
    session: Session,
    vm: Vm,
    *,
    image: Any,
    secret_key: str | bytes,
    hostname: str | None = None,
    partitioning: str | None = None,
    ssh_keys: Any = None,
    root_password: str | None = None,
) -> tuple[Install, str]:
    """Ask for a reinstall of ``vm``: install pending, requested state ``rebooting``.

    Returns the install and its URL secret (which the caller need not show anyone: the iPXE
    endpoint derives it again). Conflict while another install of the VM is active.
    """
    has_disk = session.scalar(
        select(func.count()).select_from(Storage).where(Storage.vm_id == vm.id)
    )
    if not has_disk:
        raise Conflict(f"VM {vm.uuid} has no disk to install onto; add one first", code="no_disk")
    install, secret = _new_install(
        session,
        vm=vm,
        node=None,
        image=image,
        hostname=hostname if hostname is not None else vm.hostname,
        partitioning=partitioning,
        ssh_keys=ssh_keys,
        root_password=root_password,
        secret_key=secret_key,
    )
    vm.requested_state = by_name(session, VmState, "rebooting")
    session.flush()
    return install, secret


def request_node_install(
    session: Session,
    node: Node,
    *,
    image: Any,
    secret_key: str | bytes,
    hostname: str | None = None,
    partitioning: str | None = None,
    ssh_keys: Any = None,
    root_password: str | None = None,
) -> tuple[Install, str]:
    """Ask for a reinstall of a physical node. Refused while VMs are placed on it."""
    hosted = session.scalar(
        select(func.count())
        .select_from(Vm)
        .join(NodeMethod, Vm.node_method_id == NodeMethod.id)
        .join(VirtNode, NodeMethod.virt_node_id == VirtNode.id)
        .where(VirtNode.node_id == node.id)
    )
    if hosted:
        raise Conflict(
            f"node {node.fqdn} hosts {hosted} VM(s); a reinstall would destroy them: "
            "move them away first",
            code="node_in_use",
        )
    return _new_install(
        session,
        vm=None,
        node=node,
        image=image,
        hostname=hostname if hostname is not None else node.fqdn,
        partitioning=partitioning,
        ssh_keys=ssh_keys,
        root_password=root_password,
        secret_key=secret_key,
    )


# --- the machine's side --------------------------------------------------------------------


def active_install_by_mac(session: Session, mac: Any) -> Install | None:
    """The active install of the VM or node owning this MAC (any usual spelling)."""
    normal = fields.mac(mac)
    iface = session.scalar(select(VmInterface).where(VmInterface.mac == normal))
    if iface is None:
        return None
    if iface.vm_id is not None:
        return active_install(session, vm_id=iface.vm_id)
    return active_install(session, node_id=iface.node_id)


def authenticate_installer(session: Session, mac: Any, secret: str | None) -> Install:
    """The active install for this MAC if the secret is right; NotFound for every failure.

    One answer for unknown MAC, no install, closed window and wrong secret alike, so probing
    learns nothing.
    """
    install = active_install_by_mac(session, mac)
    if install is None or not secret_matches(install, secret):
        raise NotFound("no install in progress for this machine, or a wrong install secret")
    return install


def _require_active(install: Install) -> None:
    if install.state not in ACTIVE_STATES:
        raise Conflict(f"install {install.id} is {install.state}, no longer in progress")


def report_progress(
    session: Session, install: Install, *, phase: Any, percent: Any, message: Any = None
) -> Install:
    """A progress report from the installer; the install is ``running`` from now on."""
    _require_active(install)
    install.phase = fields.phase(phase)
    install.percent = fields.percent(percent)
    install.message = fields.message(message)
    install.state = "running"
    if install.vm is not None:
        install.vm.actual_state = by_name(session, VmState, "installing")
    session.flush()
    return install


def finish(session: Session, install: Install, *, message: Any = None) -> Install:
    """The installer is done: the next boot is from disk and the VM is wanted running."""
    _require_active(install)
    install.phase = "done"
    install.percent = 100
    return _end(session, install, "done", message, vm_wanted="running")


def fail(session: Session, install: Install, *, message: Any = None) -> Install:
    """The installer gave up. The disk may be half-written, so the VM is wanted stopped."""
    _require_active(install)
    return _end(session, install, "failed", message, vm_wanted="stopped")


def _end(
    session: Session, install: Install, state: str, message: Any, *, vm_wanted: str
) -> Install:
    install.state = state
    install.message = fields.message(message)
    install.finished_at = utcnow()
    if install.vm is not None:
        install.vm.requested_state = by_name(session, VmState, vm_wanted)
    session.flush()
    return install


def cancel(session: Session, install: Install) -> Install:
    """Withdraw an install. Before the installer started the disk is intact (VM back to
    running); after, it may not be (VM stopped)."""
    _require_active(install)
    started = install.state == "running"
    install.state = "cancelled"
    install.finished_at = utcnow()
    if install.vm is not None:
        install.vm.requested_state = by_name(session, VmState, "stopped" if started else "running")
    session.flush()
    return install


# --- what the installer is told ------------------------------------------------------------


def _addresses(rows: list[Any], version: int) -> list[Address]:
    return [
        Address(
            address=str(row.address),
            prefixlen=row.network.prefixlen,
            gateway=str(row.network.gateway) if row.network.gateway is not None else None,
            version=version,
        )
        for row in rows
    ]


def install_plan(session: Session, install: Install) -> InstallPlan:
    """The installimage config's content for this install, from the inventory."""
    owner = (
        VmInterface.vm_id == install.vm_id
        if install.vm_id
        else (VmInterface.node_id == install.node_id)
    )
    interfaces = session.scalars(
        select(VmInterface)
        .where(owner)
        .order_by(VmInterface.id)
        .options(
            selectinload(VmInterface.ipv4_addresses).joinedload(Ipv4Address.network),
            selectinload(VmInterface.ipv6_addresses).joinedload(Ipv6Address.network),
        )
    ).all()
    nics = tuple(
        Nic(
            mac=str(iface.mac),
            addresses=tuple(
                _addresses(iface.ipv4_addresses, 4) + _addresses(iface.ipv6_addresses, 6)
            ),
        )
        for iface in interfaces
    )
    image = install.image
    return InstallPlan(
        install_id=install.id,
        target="vm" if install.vm_id is not None else "node",
        hostname=install.hostname,
        image_name=image.name,
        image_url=image.url,
        image_checksum=image.checksum,
        partitioning=install.partitioning,
        drive=VM_SYSTEM_DRIVE if install.vm_id is not None else NODE_SYSTEM_DRIVE,
        ssh_keys=tuple(install.ssh_keys or ()),
        root_password_hash=install.root_password_hash,
        nics=nics,
    )


def latest_installs(session: Session, vm_ids: list[int]) -> dict[int, Install]:
    """The latest install of each of these VMs, in two queries whatever their number, for
    list views that show an ``install`` field per VM."""
    if not vm_ids:
        return {}
    newest = select(func.max(Install.id)).where(Install.vm_id.in_(vm_ids)).group_by(Install.vm_id)
    rows = session.scalars(
        select(Install).where(Install.id.in_(newest)).options(selectinload(Install.image))
    )
    return {row.vm_id: row for row in rows}  # type: ignore[misc]


def vm_install(vm: Vm) -> dict[str, Any] | None:
    """The ``install`` field of a VM's representation: its latest install, or null. Load
    ``selectinload(Vm.installs).joinedload(Install.image)`` with a list to keep it at one query."""
    return install_summary(vm.installs[0]) if vm.installs else None


def install_summary(install: Install | None) -> dict[str, Any] | None:
    """What the API shows about an install: progress, never secrets or hashes."""
    if install is None:
        return None
    return {
        "id": install.id,
        "vm": str(install.vm.uuid) if install.vm is not None else None,
        "node_id": install.node_id,
        "state": install.state,
        "image": install.image.name,
        "hostname": install.hostname,
        "phase": install.phase,
        "percent": install.percent,
        "message": install.message,
        "ssh_keys": list(install.ssh_keys or ()),
        "root_password_set": install.root_password_hash is not None,
        "created_at": install.created_at.isoformat(),
        "updated_at": install.updated_at.isoformat() if install.updated_at else None,
        "finished_at": install.finished_at.isoformat() if install.finished_at else None,
    }
