"""Ceph clusters, their client users and which of them a node uses.

One function per operation; the REST views (api/ceph.py), the node and monitor views and the
importer call these. A client's key is the only secret: it is stored encrypted
(services/secretbox.py, bound to the client's secret uuid) and leaves virtapi only in a node
document served to a token with the secrets scope (`client_keys`).
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, lazyload

from ..models import CephClient, CephCluster, CephMonNode, CephPool, Node
from ..values import parse_ceph_client_name, problem
from .errors import Conflict, InvalidInput
from .references import ensure_deletable
from .secretbox import SecretBox, require_box

log = logging.getLogger(__name__)
CLUSTER_FIELDS = ("name", "fsid", "public_network", "cluster_network", "description")


def _conflicts(session: Session, cluster: CephCluster | None, values: dict[str, Any]) -> None:
    """A readable 409 for a taken name or fsid instead of a constraint name."""
    own = cluster.id if cluster is not None else None
    for key in ("name", "fsid"):
        value = values.get(key)
        if value is None:
            continue
        other = session.scalar(select(CephCluster.id).where(getattr(CephCluster, key) == value))
        if other is not None and other != own:
            raise Conflict(
                f"ceph cluster {other} already has {key} {value}", errors={key: ["already taken"]}
            )


def _cluster_values(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items() if k in CLUSTER_FIELDS}
    for key in ("public_network", "cluster_network"):
        if out.get(key) is not None:
            out[key] = str(out[key])  # parsed at the edge (values.parse_cidr)
    return out


def create_cluster(session: Session, values: dict[str, Any]) -> CephCluster:
    data = _cluster_values(values)
    _conflicts(session, None, data)
    cluster = CephCluster(**data)
    session.add(cluster)
    return cluster


def update_cluster(session: Session, cluster: CephCluster, values: dict[str, Any]) -> None:
    data = _cluster_values(values)
    _conflicts(session, cluster, data)
    for key, value in data.items():
        setattr(cluster, key, value)


def delete_cluster(session: Session, cluster: CephCluster) -> None:
    """Delete a cluster with its clients, unless nodes, monitors or pools still name it."""
    # Clients first (each refuses while a node uses it); a refusal rolls the request back.
    for client in list(cluster.clients):
        delete_client(session, client)
    session.flush()
    session.expire(cluster, ["clients"])
    ensure_deletable(session, cluster, f"ceph cluster {cluster.name}")
    session.delete(cluster)


def cluster_by_ref(session: Session, ref: str | int, field: str) -> CephCluster:
    """A cluster by name or id; 422 on ``field`` otherwise."""
    column = CephCluster.id if isinstance(ref, int) else CephCluster.name
    cluster = session.scalar(select(CephCluster).where(column == ref))
    if cluster is None:
        raise InvalidInput(f"no ceph cluster {ref!r}", errors={field: [f"unknown cluster {ref!r}"]})
    return cluster


def client_by_ref(
    session: Session, cluster: CephCluster | None, ref: str | int, field: str
) -> CephClient:
    """A client by id, or by name within ``cluster``; 422 on ``field`` otherwise."""
    stmt = select(CephClient)
    if isinstance(ref, int):
        stmt = stmt.where(CephClient.id == ref)
    else:
        if cluster is None:
            raise InvalidInput(
                "name the cluster first (ceph_cluster) or give the client's id",
                errors={field: ["a client name needs a cluster"]},
            )
        if problem(parse_ceph_client_name, ref) is None:
            ref = parse_ceph_client_name(ref)  # "libvirt" names client.libvirt
        stmt = stmt.where(CephClient.ceph_cluster_id == cluster.id, CephClient.name == ref)
    client = session.scalar(stmt)
    if client is None or (cluster is not None and client.ceph_cluster_id != cluster.id):
        where = f" in ceph cluster {cluster.name}" if cluster is not None else ""
        raise InvalidInput(
            f"no ceph client {ref!r}{where}", errors={field: [f"unknown client {ref!r}{where}"]}
        )
    return client


def _make_default(session: Session, client: CephClient) -> None:
    # The partial unique index allows one default per cluster: clear the old one first.
    session.execute(
        update(CephClient)
        .where(CephClient.ceph_cluster_id == client.ceph_cluster_id, CephClient.is_default)
        .where(CephClient.id != client.id if client.id is not None else True)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    client.is_default = True


def set_client_key(client: CephClient, key: str | None, box: SecretBox | None) -> None:
    """Store ``key`` (already checked by values.parse_cephx_key) encrypted; None removes it."""
    if key is None:
        client.key_encrypted = None
        return
    client.key_encrypted = require_box(box).encrypt(key, str(client.secret_uuid))


def create_client(
    session: Session, cluster: CephCluster, values: dict[str, Any], box: SecretBox | None
) -> CephClient:
    name = values["name"]
    taken = session.scalar(
        select(CephClient.id).where(
            CephClient.ceph_cluster_id == cluster.id, CephClient.name == name
        )
    )
    if taken is not None:
        raise Conflict(
            f"ceph cluster {cluster.name} already has {name} (client {taken})",
            errors={"name": ["already taken in this cluster"]},
        )
    client = CephClient(
        cluster=cluster,
        name=name,
        caps=values.get("caps", ""),
        secret_uuid=values.get("secret_uuid") or uuidlib.uuid4(),
        is_default=False,
    )
    session.add(client)
    set_client_key(client, values.get("key"), box)
    session.flush()
    if values.get("is_default"):
        _make_default(session, client)
    return client


def update_client(
    session: Session, client: CephClient, values: dict[str, Any], box: SecretBox | None
) -> None:
    if "name" in values and values["name"] != client.name:
        taken = session.scalar(
            select(CephClient.id).where(
                CephClient.ceph_cluster_id == client.ceph_cluster_id,
                CephClient.name == values["name"],
            )
        )
        if taken is not None:
            raise Conflict(
                f"this cluster already has {values['name']} (client {taken})",
                errors={"name": ["already taken in this cluster"]},
            )
        client.name = values["name"]
    if "caps" in values:
        client.caps = values["caps"]
    if "key" in values:
        set_client_key(client, values["key"], box)
    if values.get("is_default") is True:
        _make_default(session, client)
    elif values.get("is_default") is False:
        client.is_default = False


def delete_client(session: Session, client: CephClient) -> None:
    users = session.scalars(select(Node.fqdn).where(Node.ceph_client_id == client.id)).all()
    if users:
        raise Conflict(
            f"{len(users)} node(s) use {client.name}: {', '.join(sorted(users)[:5])}; "
            "choose another client for them first",
            errors={"node.ceph_client_id": len(users)},
        )
    session.delete(client)


def choose(
    session: Session,
    node: Node,
    cluster_ref: str | int | None,
    client_ref: str | int | None,
    fields: Iterable[str],
) -> None:
    """Set the node's cluster and/or client (None clears); the client must be the cluster's."""
    given = set(fields)
    if "ceph_cluster" in given:
        node.ceph_cluster_id = (
            cluster_by_ref(session, cluster_ref, "ceph_cluster").id
            if cluster_ref is not None
            else None
        )
    if "ceph_client" in given:
        if client_ref is None:
            node.ceph_client_id = None
        else:
            cluster = (
                session.get(CephCluster, node.ceph_cluster_id) if node.ceph_cluster_id else None
            )
            node.ceph_client_id = client_by_ref(session, cluster, client_ref, "ceph_client").id
    if node.ceph_client_id is not None:
        client = session.get(CephClient, node.ceph_client_id)
        if client is None or client.ceph_cluster_id != node.ceph_cluster_id:
            raise InvalidInput(
                "the node's ceph_client must belong to its ceph_cluster",
                errors={"ceph_client": ["not a client of the node's cluster"]},
            )


def take_cluster(
    session: Session, row: CephMonNode | CephPool, values: dict[str, Any]
) -> dict[str, Any]:
    """Link a monitor or a pool to the cluster ``values["ceph_cluster"]`` names (None
    unlinks), if given; returns the other values."""
    rest = dict(values)
    if "ceph_cluster" in rest:
        ref = rest.pop("ceph_cluster")
        row.ceph_cluster_id = (
            cluster_by_ref(session, ref, "ceph_cluster").id if ref is not None else None
        )
    return rest


def client_keys(
    session: Session, secret_uuids: Iterable[str], box: SecretBox | None
) -> dict[str, str]:
    """The plaintext keys of the clients with these secret uuids (those that have one): for a
    node document served to a token with the secrets scope, never stored or cached."""
    wanted = {uuidlib.UUID(u) for u in secret_uuids}
    if not wanted:
        return {}
    rows = session.execute(
        select(CephClient.secret_uuid, CephClient.key_encrypted).where(
            CephClient.secret_uuid.in_(wanted), CephClient.key_encrypted.is_not(None)
        )
    ).all()
    keys: dict[str, str] = {}
    for secret_uuid, encrypted in rows:
        # A missing or wrong key file must not turn a node document into an error (a host
        # would read a 404 as "unknown node"): served without the key, the host warns that
        # virtapi holds one it did not serve, and the log here says why.
        if box is None:
            log.error("cannot serve Ceph key %s: VIRTAPI_SECRET_KEY_FILE is not set", secret_uuid)
            continue
        try:
            keys[str(secret_uuid)] = box.decrypt(encrypted, str(secret_uuid))
        except ValueError as exc:
            log.error("cannot serve Ceph key %s: %s", secret_uuid, exc)
    return keys


def reencrypt_keys(session: Session, old: SecretBox, new: SecretBox) -> tuple[int, int]:
    """Re-encrypt every stored client key under ``new`` (key rotation), all or nothing.

    Every key is opened first: one that neither ``old`` nor ``new`` opens refuses the whole
    rotation (a Conflict naming the clients, never a key) before anything is written. A key
    ``new`` already opens is left alone, so a rotation run again after the API hosts switched
    keys picks up what they wrote in between. Returns (re-encrypted, already under ``new``).
    """
    clients = session.scalars(
        select(CephClient)
        .where(CephClient.key_encrypted.is_not(None))
        .order_by(CephClient.id)
        .options(lazyload("*"))  # FOR UPDATE does not lock an outer join's nullable side
        .with_for_update(of=CephClient)
    ).all()
    plain: dict[int, str] = {}
    done: list[CephClient] = []
    unreadable: list[str] = []
    for client in clients:
        context = str(client.secret_uuid)
        try:
            plain[client.id] = old.decrypt(client.key_encrypted, context)
            continue
        except ValueError:
            pass
        try:
            new.decrypt(client.key_encrypted, context)
            done.append(client)
        except ValueError:
            unreadable.append(f"{client.name} (id {client.id})")
    if unreadable:
        raise Conflict(
            f"the old key opens no stored key of {len(unreadable)} ceph client(s): "
            f"{', '.join(unreadable[:5])}; give the key file they were encrypted with",
            errors={"old_key": [f"does not open {len(unreadable)} stored key(s)"]},
        )
    for client in clients:
        if client.id in plain:
            set_client_key(client, plain[client.id], new)
    session.flush()
    return len(plain), len(done)
