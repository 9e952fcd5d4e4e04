"""The image catalog and network installs of VMs and nodes.

Images are a plain CRUD resource (operators write; every role reads). An install hangs off its
machine: ``/vms/<uuid>/install`` (customers for their own VMs, operators for any) and
``/nodes/<id>/install`` (operators). The machine side lives in ``virtapi.pxe.views``.
"""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from .. import values
from ..auth import (
    CUSTOMERS_AND_OPERATORS,
    EVERYONE,
    OPERATORS,
    READERS,
    Principal,
    current_principal,
    require,
)
from ..config import current_settings
from ..db import get_session
from ..models import Image, Install, Vm
from ..services import install_fields as checks
from ..services import installs
from ..services.errors import NotFound
from ..services.lookups import node_by_ref, vm_by_uuid
from . import crud
from .crud import document_errors, json_response
from .fields import INT64_MAX, hostname_field, name_field, string, updating, with_rule
from .filters import Filter

blp = Blueprint(
    "installs", __name__, url_prefix="/api/v1", description="Image catalog and network installs"
)


# --- images -------------------------------------------------------------------------------------


class ImageSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    os = fields.String(required=True)
    version = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "the image tarball"})
    checksum = fields.String(required=True)
    partitioning = fields.String(
        required=True, metadata={"description": "default installimage PART/LV lines"}
    )


# Rules the PART/LV grammar and key check state beyond a pattern (install_fields).
PARTITIONING_RULE = "partitioning holds installimage PART and LV lines (see docs/pxe.md)"


class ImageCreateSchema(Schema):
    name = name_field(required=True)
    os = name_field(required=True)
    version = name_field(required=True)
    url = string(1024, required=True, non_empty=True, metadata={"pattern": checks.URL_PATTERN})
    checksum = string(160, load_default="", metadata={"pattern": checks.CHECKSUM_PATTERN})
    partitioning = with_rule(
        string(
            8192,
            required=True,
            multiline=True,
            metadata={"example": "PART /boot ext3 1G\nPART / ext4 all"},
        ),
        PARTITIONING_RULE,
    )


_IMAGE_CHECKS = {
    "name": lambda v: checks.name(v, "name"),
    "os": lambda v: checks.name(v, "os"),
    "version": lambda v: checks.name(v, "version"),
    "url": checks.url,
    "checksum": checks.checksum,
    "partitioning": checks.partitioning,
}


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    # Every field may end up in an installimage config: only validated values get stored.
    return {key: _IMAGE_CHECKS[key](value) for key, value in data.items()}


def create_image(session: Session, principal: Principal, data: dict[str, Any]) -> Image:
    image = Image(**_checked(data))
    session.add(image)
    return image


def update_image(
    session: Session, principal: Principal, image: Image, data: dict[str, Any]
) -> None:
    for key, value in _checked(data).items():
        setattr(image, key, value)


IMAGES = crud.register(
    blp,
    crud.Resource(
        path="images",
        model=Image,
        title="image",
        schema=ImageSchema,
        create_schema=ImageCreateSchema,
        update_schema=updating(ImageCreateSchema),
        filters={
            "name": Filter(string(64), Image.name),
            "os": Filter(string(64), Image.os),
            "version": Filter(string(64), Image.version),
        },
        read_roles=EVERYONE,
        write_roles=OPERATORS,
        create=create_image,
        update=update_image,
        description="Filters: name, os, version. Images used by an install cannot be deleted.",
    ),
)


# --- installs -----------------------------------------------------------------------------------


class InstallRequestSchema(Schema):
    image = with_rule(
        name_field(required=True, metadata={"description": "image name"}),
        "image must name an image of the catalog (GET /api/v1/images)",
    )
    hostname = hostname_field(
        metadata={"description": "defaults to the VM's hostname (a node's FQDN)"}
    )
    partitioning = with_rule(
        string(
            8192,
            multiline=True,
            metadata={"description": "installimage PART/LV lines; the image's by default"},
        ),
        PARTITIONING_RULE,
    )
    ssh_keys = fields.List(
        with_rule(
            string(16384, metadata={"pattern": values.SSH_KEY_PATTERN}),
            "each key's base64 blob must decode to a key of its type",
        ),
        load_default=list,
    )
    root_password = string(
        256, load_only=True, metadata={"description": "stored only as a SHA-512 crypt hash"}
    )


class InstallSchema(Schema):
    id = fields.Integer(required=True)
    vm = fields.UUID(required=True, allow_none=True)
    node_id = fields.Integer(required=True, allow_none=True)
    state = fields.String(
        required=True, metadata={"enum": ["pending", "running", "done", "failed", "cancelled"]}
    )
    image = fields.String(required=True)
    hostname = fields.String(required=True)
    phase = fields.String(required=True)
    percent = fields.Integer(required=True)
    message = fields.String(required=True)
    ssh_keys = fields.List(fields.String(), required=True)
    root_password_set = fields.Boolean(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True, allow_none=True)
    finished_at = fields.String(required=True, allow_none=True)


def _represent(install: Install) -> dict[str, Any]:
    return InstallSchema().dump(installs.install_summary(install))


def _vm(session: Session, principal: Principal, key: Any) -> Any:
    """The VM by UUID or id, as the caller may see it (another customer's VM: 404)."""
    customer = (principal.customer_id or 0) if principal.is_customer else None
    if isinstance(key, uuidlib.UUID):
        return vm_by_uuid(session, key, customer)
    vm = session.get(Vm, key) if 0 < key <= INT64_MAX else None
    if vm is None or (customer is not None and vm.customer_id != customer):
        raise NotFound(f"no VM with id {key}")
    return vm


def _found(install: Install | None, missing: str) -> Install:
    if install is None:
        raise NotFound(missing)
    return install


def _created(session: Session, install: Install, location: str) -> Any:
    session.commit()
    return json_response(_represent(install), 201, {"Location": location})


def _cancel(session: Session, install: Install | None, missing: str) -> Any:
    active = _found(install, missing)
    installs.cancel(session, active)
    session.commit()
    return _represent(active)


def _request_body(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "image": data["image"],
        "hostname": data.get("hostname"),
        "partitioning": data.get("partitioning"),
        "ssh_keys": data.get("ssh_keys") or [],
        "root_password": data.get("root_password"),
    }


class VmInstall(MethodView):
    @require(EVERYONE)
    @document_errors(blp, 401, 403, 404)
    @blp.response(200, InstallSchema)
    def get(self, vm: Any) -> Any:
        """The VM's latest install and its progress

        404 when none was ever requested (or the VM is not the caller's).
        """
        session = get_session()
        machine = _vm(session, current_principal(), vm)
        install = installs.latest_install(session, vm_id=machine.id)
        return _represent(_found(install, f"no install was ever requested for VM {machine.uuid}"))

    @require(CUSTOMERS_AND_OPERATORS)
    @document_errors(blp, 401, 403, 404, 409)
    @blp.arguments(InstallRequestSchema)
    @blp.alt_response(201, schema=InstallSchema, success=True)
    def post(self, data: dict[str, Any], vm: Any) -> Any:
        """Reinstall the VM from an image

        The install becomes pending and the VM's requested state `rebooting`; the VM then
        network-boots into the installer (see /pxe). 409 while an install is pending or running.
        """
        session = get_session()
        principal = current_principal()
        machine = _vm(session, principal, vm)
        install, _secret = installs.request_vm_install(
            session, machine, secret_key=current_settings().secret_key, **_request_body(data)
        )
        return _created(session, install, url_for("installs.VmInstall", vm=machine.uuid))

    @require(CUSTOMERS_AND_OPERATORS)
    @document_errors(blp, 401, 403, 404, 409)
    @blp.response(200, InstallSchema)
    def delete(self, vm: Any) -> Any:
        """Cancel the VM's pending or running install"""
        session = get_session()
        machine = _vm(session, current_principal(), vm)
        install = installs.active_install(session, vm_id=machine.id)
        return _cancel(session, install, f"VM {machine.uuid} has no install pending or running")


class NodeInstall(MethodView):
    @require(READERS)
    @document_errors(blp, 401, 403, 404)
    @blp.response(200, InstallSchema)
    def get(self, id: int) -> Any:
        """The node's latest install and its progress"""
        session = get_session()
        node = node_by_ref(session, id)
        install = installs.latest_install(session, node_id=node.id)
        return _represent(_found(install, f"no install was ever requested for node {node.fqdn}"))

    @require(OPERATORS)
    @document_errors(blp, 401, 403, 404, 409)
    @blp.arguments(InstallRequestSchema)
    @blp.alt_response(201, schema=InstallSchema, success=True)
    def post(self, data: dict[str, Any], id: int) -> Any:
        """Reinstall a physical node from an image

        Refused (409) while VMs are placed on it or another install is active. Rebooting the
        node is left to the operator (or its config management).
        """
        session = get_session()
        node = node_by_ref(session, id)
        install, _secret = installs.request_node_install(
            session, node, secret_key=current_settings().secret_key, **_request_body(data)
        )
        return _created(session, install, url_for("installs.NodeInstall", id=node.id))

    @require(OPERATORS)
    @document_errors(blp, 401, 403, 404, 409)
    @blp.response(200, InstallSchema)
    def delete(self, id: int) -> Any:
        """Cancel the node's pending or running install"""
        session = get_session()
        node = node_by_ref(session, id)
        install = installs.active_install(session, node_id=node.id)
        return _cancel(session, install, f"node {node.fqdn} has no install pending or running")


blp.route("/vms/<uuid:vm>/install", endpoint="VmInstall", tags=["installs"])(VmInstall)
blp.route("/vms/<int:vm>/install", endpoint="VmInstallById", tags=["installs"])(VmInstall)
blp.route("/nodes/<int:id>/install", endpoint="NodeInstall", tags=["installs"])(NodeInstall)
