"""What a consistent inventory looks like after a crash: checks over the database itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Snapshot:
    vms: int
    interfaces: int
    free_ipv4: int
    free_ipv6: int
    disks: int


def snapshot(engine: Engine) -> Snapshot:
    with engine.connect() as conn:

        def n(sql: str) -> int:
            return int(conn.execute(text(sql)).scalar_one())

        return Snapshot(
            vms=n("SELECT count(*) FROM vm"),
            interfaces=n("SELECT count(*) FROM vm_interface"),
            free_ipv4=n("SELECT count(*) FROM ipv4 WHERE vm_interface_id IS NULL"),
            free_ipv6=n("SELECT count(*) FROM ipv6 WHERE vm_interface_id IS NULL"),
            disks=n("SELECT count(*) FROM storage"),
        )


def problems(
    engine: Engine, prefix: str, *, interfaces: int = 1, disks: int | None = 1
) -> list[str]:
    """Everything wrong with the VMs whose hostname starts with ``prefix`` and the change log.

    Each such VM was requested with ``interfaces`` interfaces (one IPv4 and one IPv6 address
    each) and ``disks`` Ceph disks (None: any number of disks of any type): it must have exactly
    that, or not exist at all.
    """
    found: list[str] = []
    with engine.connect() as conn:

        def rows(sql: str, **params: object) -> list[tuple]:
            return [tuple(r) for r in conn.execute(text(sql), params)]

        like = prefix + "%"
        for vm_id, hostname in rows("SELECT id, hostname FROM vm WHERE hostname LIKE :p", p=like):
            ifaces = rows("SELECT id FROM vm_interface WHERE vm_id = :v", v=vm_id)
            if len(ifaces) != interfaces:
                found.append(f"{hostname}: {len(ifaces)} interfaces, wanted {interfaces}")
            for (iface,) in ifaces:
                for table in ("ipv4", "ipv6"):
                    got = rows(f"SELECT id FROM {table} WHERE vm_interface_id = :i", i=iface)
                    if len(got) != 1:
                        found.append(f"{hostname}: interface {iface} has {len(got)} {table}")
            storage = rows(
                "SELECT s.id, c.storage_id FROM storage s "
                "LEFT JOIN storage_ceph c ON c.storage_id = s.id WHERE s.vm_id = :v",
                v=vm_id,
            )
            if disks is None:
                continue
            if len(storage) != disks or any(ceph is None for _, ceph in storage):
                found.append(f"{hostname}: disks {storage}, wanted {disks} Ceph disks")
        # Allocations attached to nothing that should not exist.
        for table in ("ipv4", "ipv6"):
            orphans = rows(
                f"SELECT a.id FROM {table} a JOIN vm_interface i ON i.id = a.vm_interface_id "
                "WHERE i.vm_id IS NULL AND i.node_id IS NULL"
            )
            if orphans:
                found.append(f"{table} rows on interfaces of nothing: {orphans}")
        found += [
            f"vlan membership of a missing interface: {r}"
            for r in rows(
                "SELECT m.vm_interface_id FROM vlan_member m "
                "LEFT JOIN vm_interface i ON i.id = m.vm_interface_id WHERE i.id IS NULL"
            )
        ]
        # The change log matches the data: every row has its create record, and no record
        # describes a row that never committed (nothing is deleted in these tests).
        for table in ("vm", "vm_interface", "ipv4", "ipv6", "storage"):
            missing = rows(
                f"SELECT t.id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM change c WHERE "
                "c.object_type = :t AND c.action = 'create' "
                "AND c.object_id = CAST(t.id AS VARCHAR(64)))",
                t=table,
            )
            if missing:
                found.append(f"{table} rows without a create change row: {missing[:10]}")
            ghosts = rows(
                f"SELECT c.object_id FROM change c WHERE c.object_type = :t AND NOT EXISTS "
                f"(SELECT 1 FROM {table} t WHERE CAST(t.id AS VARCHAR(64)) = c.object_id) "
                "AND NOT EXISTS (SELECT 1 FROM change d WHERE d.object_type = c.object_type "
                "AND d.object_id = c.object_id AND d.action = 'delete')",
                t=table,
            )
            if ghosts:
                found.append(f"change rows for {table} rows that never committed: {ghosts[:10]}")
    return found
