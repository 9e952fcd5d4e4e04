"""Golden images: operator-defined base images per storage type, and disks cloned from them.

A clone shares the base's blocks copy-on-write, so many VMs use one base in parallel:

    storage type   the base on the host                 a disk cloned from it
    ceph           RBD image <pool>/base-<name> with    rbd clone <pool>/base-<name>@golden
                   the protected snapshot @golden
    qcow2          <local_storage_path>/base-<name>     qcow2 file with it as backing file
                   .qcow2 on every hypervisor
    lvm            thin LV <vg>/base-<name>             thin snapshot of it

Raw files cannot be cloned copy-on-write. A base in use cannot be deleted (409 naming users).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import values
from ..models import BaseImage, CephPool, Storage, StorageType, Vm
from .errors import Conflict, InvalidInput
from .validation import checked
from .vocabulary import resolve

METHODS = {"ceph": "rbd-clone", "qcow2": "qcow2-backing-file", "lvm": "lvm-thin-snapshot"}
# The protected RBD snapshot clones are made from.
RBD_SNAPSHOT = "golden"
# How many users a refused deletion names before summing up the rest.
NAMED_USERS = 10


def check_image_kind(type_name: str, has_pool: bool) -> None:
    """A base image's storage type clones copy-on-write; only a ceph one (and it must) names
    a pool. Shared by the API and the import."""
    if type_name not in METHODS:
        kinds = ", ".join(sorted(METHODS))
        raise InvalidInput(
            f"{type_name} disks cannot be cloned copy-on-write (possible: {kinds})",
            errors={"storage_type": [f"no clones; use one of {kinds}"]},
        )
    if type_name == "ceph" and not has_pool:
        raise InvalidInput(
            "a ceph base image needs ceph_pool", errors={"ceph_pool": ["required for ceph"]}
        )
    if type_name != "ceph" and has_pool:
        raise InvalidInput(
            "only ceph base images have a pool", errors={"ceph_pool": ["only for ceph"]}
        )


def create_base_image(session: Session, data: dict[str, Any]) -> BaseImage:
    """A base image; 422 for a type without copy-on-write clones or a misplaced pool."""
    values_ = dict(data)
    name = checked(values.parse_name, values_.pop("name"), "name")
    storage_type = resolve(session, StorageType, values_.pop("storage_type"), "storage_type")
    pool = values_.pop("ceph_pool", None)
    check_image_kind(storage_type.name, pool is not None)
    if session.scalar(select(BaseImage.id).where(BaseImage.name == name)) is not None:
        raise Conflict(f"a base image called {name!r} exists", errors={"name": ["taken"]})
    image = BaseImage(
        name=name,
        storage_type=storage_type,
        ceph_pool=resolve(session, CephPool, pool, "ceph_pool") if pool is not None else None,
        **values_,
    )
    session.add(image)
    session.flush()
    return image


def users(session: Session, image: BaseImage) -> list[tuple[int, str]]:
    """(disk id, VM hostname) of every disk cloned from ``image``, by disk id."""
    return [
        (disk_id, hostname)
        for disk_id, hostname in session.execute(
            select(Storage.id, Vm.hostname)
            .join(Vm, Vm.id == Storage.vm_id)
            .where(Storage.base_image_id == image.id)
            .order_by(Storage.id)
        )
    ]


def delete_base_image(session: Session, image: BaseImage) -> None:
    """Delete an unused base image; 409 naming the disks (and their VMs) still cloned from it."""
    using = users(session, image)
    if using:
        named = [f"disk {d} of VM {h}" for d, h in using[:NAMED_USERS]]
        more = len(using) - len(named)
        tail = f" and {more} more" if more else ""
        raise Conflict(
            f"base image {image.name!r} is in use by {len(using)} disk(s): "
            f"{', '.join(named)}{tail}; delete or re-create those disks first",
            errors={"users": [f"disk {d} of VM {h}" for d, h in using]},
            code="in_use",
        )
    session.delete(image)
    session.flush()


def check_clone(
    disk_type: str, disk_size: int, disk_pool: str | None, image: dict[str, Any]
) -> None:
    """May a new disk (type, size, ceph pool) be a clone of ``image`` (name, storage_type,
    size, ceph_pool)? Same storage type, at least as big; a ceph clone lives in the base's
    pool. Shared by the API and the import."""
    name, image_type = image["name"], image["storage_type"]
    if disk_type != image_type:
        raise InvalidInput(
            f"base image {name!r} is {image_type}; the disk is {disk_type}",
            errors={"base_image": [f"needs storage_type {image_type}"]},
        )
    if disk_size < image["size"]:
        raise InvalidInput(
            f"the disk ({disk_size} bytes) is smaller than base image {name!r} "
            f"({image['size']} bytes)",
            errors={"size": [f"at least {image['size']} for this base image"]},
        )
    pool = image["ceph_pool"]
    if disk_pool is not None and pool is not None and disk_pool != pool:
        raise InvalidInput(
            f"an RBD clone lives in its parent's pool {pool!r}",
            errors={"ceph_pool": [f"must be {pool} (or omitted)"]},
        )


def clone_into(disk: Storage, image: BaseImage) -> None:
    """Make the new ``disk`` a clone of ``image`` (see :func:`check_clone`)."""
    check_clone(
        disk.storage_type.name,
        disk.size,
        disk.ceph.ceph_pool.name if disk.ceph is not None else None,
        {
            "name": image.name,
            "storage_type": image.storage_type.name,
            "size": image.size,
            "ceph_pool": image.ceph_pool.name if image.ceph_pool is not None else None,
        },
    )
    disk.base_image = image


def host_source(
    disk_type: str, name: str, pool: str | None, vg_name: str | None, path: str | None
) -> dict[str, Any]:
    """Where the hypervisor finds the base of a clone of ``disk_type``."""
    method = METHODS.get(disk_type)
    base = f"base-{name}"
    if method == "rbd-clone":
        return {"method": method, "parent": f"{pool}/{base}@{RBD_SNAPSHOT}"}
    if method == "qcow2-backing-file":
        return {"method": method, "backing_file": f"{path}/{base}.qcow2" if path else None}
    if method == "lvm-thin-snapshot":
        return {"method": method, "origin": f"{vg_name}/{base}" if vg_name else None}
    return {"method": None}
