"""Disks: type-specific rules (a Ceph disk needs a pool), quota for customers' disk space."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import (
    BackupSchedule,
    BaseImage,
    CacheOption,
    CephPool,
    DiskRestore,
    Storage,
    StorageCeph,
    StorageType,
    Vm,
)
from .base_images import clone_into
from .caller import Caller, customer_of
from .errors import Forbidden, InvalidInput
from .quotas import check_quota
from .vocabulary import resolve

LIMITS = ("read_iops_limit", "write_iops_limit", "read_bps_limit", "write_bps_limit")


def _refuse_limits(caller: Caller, data: dict[str, Any]) -> None:
    given = [k for k in LIMITS if k in data]
    if given and customer_of(caller) is not None:
        raise Forbidden(
            f"customers cannot set I/O limits ({', '.join(given)}); ask an operator",
            errors={k: ["operators only"] for k in given},
        )


def _ceph(session: Session, disk: Storage, pool: Any, discard: Any) -> None:
    if disk.storage_type.name != "ceph":
        if pool is not None or discard is not None:
            field = "ceph_pool" if pool is not None else "discard"
            raise InvalidInput(
                f"only ceph disks have {field}", errors={field: ["only for storage_type ceph"]}
            )
        return
    if disk.ceph is None:
        if pool is None:
            raise InvalidInput(
                "a ceph disk needs ceph_pool", errors={"ceph_pool": ["required for ceph"]}
            )
        disk.ceph = StorageCeph(
            ceph_pool=resolve(session, CephPool, pool, "ceph_pool"),
            discard=True if discard is None else discard,
        )
        return
    if pool is not None:
        disk.ceph.ceph_pool = resolve(session, CephPool, pool, "ceph_pool")
    if discard is not None:
        disk.ceph.discard = discard


def create_disk(session: Session, caller: Caller, vm: Vm, data: dict[str, Any]) -> Storage:
    values = dict(data)
    _refuse_limits(caller, values)
    customer = customer_of(caller)
    if customer is not None:
        check_quota(session, customer, disk=values["size"])
    pool, discard = values.pop("ceph_pool", None), values.pop("discard", None)
    base = values.pop("base_image", None)
    image = resolve(session, BaseImage, base, "base_image") if base is not None else None
    storage_type = resolve(session, StorageType, values.pop("storage_type"), "storage_type")
    if image is not None and pool is None and storage_type.name == "ceph" and image.ceph_pool:
        pool = image.ceph_pool.name  # an RBD clone lives in its parent's pool
    disk = Storage(
        vm=vm,
        size=values.pop("size"),
        storage_type=storage_type,
        cache_option=resolve(
            session, CacheOption, values.pop("cache_option", "default"), "cache_option"
        ),
        **values,
    )
    session.add(disk)
    _ceph(session, disk, pool, discard)
    if image is not None:
        clone_into(disk, image)
    return disk


def update_disk(session: Session, caller: Caller, disk: Storage, data: dict[str, Any]) -> None:
    values = dict(data)
    _refuse_limits(caller, values)
    customer = customer_of(caller)
    if customer is not None and "size" in values:
        check_quota(session, customer, disk=values["size"] - disk.size)
    if "cache_option" in values:
        disk.cache_option = resolve(
            session, CacheOption, values.pop("cache_option"), "cache_option"
        )
    _ceph(session, disk, values.pop("ceph_pool", None), values.pop("discard", None))
    for key, value in values.items():
        setattr(disk, key, value)


def delete_disk(session: Session, disk: Storage) -> None:
    # One by one, so each end is in the change log (the FKs would cascade silently).
    for snapshot in list(disk.snapshots):
        session.delete(snapshot)
    for row in session.scalars(select(BackupSchedule).where(BackupSchedule.storage_id == disk.id)):
        session.delete(row)
    restore = session.get(DiskRestore, disk.id)
    if restore is not None:
        session.delete(restore)
    if disk.ceph is not None:
        session.delete(disk.ceph)
    session.delete(disk)
