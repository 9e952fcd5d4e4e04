"""The endpoints machines call while they boot: no token, so protected otherwise.

- the one-shot window: anything beyond the local-boot script exists only while the machine
  has an install pending or running;
- an optional allow-list of source networks (PXE_ALLOWED_NETWORKS), checked against the
  socket peer address only (``request.remote_addr``; X-Forwarded-For counts only if the
  deployment wraps the app in a proxy fix, i.e. deliberately trusts its proxy);
- the per-install secret in the URL path, compared in constant time against its stored hash;
- the machine's SMBIOS UUID (iPXE's ``${uuid}``, ``/pxe/<mac>?uuid=…``), without which the
  iPXE script, and so the secret, is not handed out: a guessed MAC alone reveals nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import netaddr
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, ServiceUnavailable

from ..config import current_settings
from ..db import get_session
from ..models import Install
from ..services import install_fields as fields
from ..services import installs
from ..services.audit import set_actor
from ..services.errors import Forbidden
from . import render

log = logging.getLogger(__name__)

bp = Blueprint("pxe", __name__)


def _text(body: str, status: int = 200) -> Response:
    resp = Response(body, status=status, mimetype="text/plain")
    # A script or config that carries a secret must not linger in caches.
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _allowed_networks() -> netaddr.IPSet | None:
    raw = current_settings().pxe_allowed_networks
    if not raw:
        return None
    cache = current_app.extensions.setdefault("virtapi.pxe", {})
    if cache.get("networks_key") != raw:
        try:
            cache["networks"] = netaddr.IPSet(netaddr.IPNetwork(n) for n in raw)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise ServiceUnavailable(
                f"VIRTAPI_PXE_ALLOWED_NETWORKS must be a comma-separated list of networks, "
                f"got {', '.join(map(str, raw))!r}"
            ) from None
        cache["networks_key"] = raw
    return cache["networks"]


def _check_source() -> None:
    networks = _allowed_networks()
    if networks is None:
        return
    peer = request.remote_addr or ""
    try:
        address = netaddr.IPAddress(peer)
    except (netaddr.AddrFormatError, ValueError):
        address = None
    if address is not None and address.is_ipv4_mapped():
        address = address.ipv4()
    if address is None or address not in networks:
        log.warning("pxe request from %s outside PXE_ALLOWED_NETWORKS refused", peer)
        raise Forbidden(
            f"{peer or 'this address'} is not in the networks allowed to boot from virtapi"
        )


def _public_url() -> str:
    configured = current_settings().pxe_public_url
    base = (configured or request.host_url).rstrip("/")
    if not fields.URL_RE.fullmatch(base):
        # Without a configured public URL the Host header decides, and it is the client's.
        problem = ServiceUnavailable if configured else BadRequest
        raise problem(
            f"cannot build installer URLs from {base!r}: set VIRTAPI_PUBLIC_URL to the "
            "http(s) address machines reach virtapi at"
        )
    return base


def _boot_url(name: str) -> str:
    value = getattr(current_settings(), name)
    if not fields.URL_RE.fullmatch(value):
        raise ServiceUnavailable(
            f"VIRTAPI_{name.upper()} must be an http(s) URL of plain characters (no spaces, "
            f"quotes, '$' or query string), got {value!r}"
        )
    return value


def _config_url(mac: str, secret: str) -> str:
    return render.installimage_url(_public_url(), mac, secret)


def _secret_key() -> str:
    return current_settings().secret_key


def _installer_session(mac: str) -> Any:
    db = get_session()
    set_actor(db, None, f"installer:{mac}")
    return db


def _form() -> dict[str, Any]:
    """A JSON object or a form body (curl -d phase=… -d percent=…)."""
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        return body
    return request.form.to_dict()


@bp.get("/pxe/<mac>")
def pxe_script(mac: str) -> Response:
    """The iPXE script for the machine with this MAC: installer while an install is active
    and the machine presents its SMBIOS UUID (``?uuid=${uuid}``)."""
    _check_source()
    normal = fields.mac(mac)
    db = get_session()
    install = installs.active_install_by_mac(db, normal)
    if install is None:
        return _text(render.local_boot_script())
    if not installs.machine_identity_matches(install, request.args.get("uuid")):
        # Same answer as "no install": a prober can't tell a wrong UUID from an idle MAC.
        log.warning(
            "install %s: /pxe/%s without the machine's SMBIOS UUID (%s); booting it locally",
            install.id,
            normal,
            "none given" if not request.args.get("uuid") else "wrong or malformed",
        )
        return _text(render.local_boot_script())
    if not installs.machine_identity_recorded(install):
        log.info(
            "install %s: node has no SMBIOS UUID in its facts; only the allow-list guards /pxe/%s",
            install.id,
            normal,
        )
    secret = installs.install_secret(install, _secret_key())
    if not installs.secret_matches(install, secret):
        # The application key changed since the request: the stored hash no longer matches
        # anything we can hand out. Booting the installer would only fail later.
        log.warning(
            "install %s: secret key changed since it was requested; re-request it", install.id
        )
        return _text(render.local_boot_script())
    script = render.installer_script(
        hostname=install.hostname,
        mac=normal,
        kernel_url=_boot_url("pxe_kernel_url"),
        initrd_url=_boot_url("pxe_initrd_url"),
        config_url=_config_url(normal, secret),
    )
    return _text(script)


@bp.get("/installimage/<mac>/<secret>")
def installimage_config(mac: str, secret: str) -> Response:
    _check_source()
    db = get_session()
    install = installs.authenticate_installer(db, mac, secret)
    plan = installs.install_plan(db, install)
    return _text(render.installimage_config(plan, _config_url(mac, secret)))


@bp.get("/installimage/<mac>/<secret>/authorized_keys")
def installimage_keys(mac: str, secret: str) -> Response:
    _check_source()
    db = get_session()
    install = installs.authenticate_installer(db, mac, secret)
    return _text(render.authorized_keys(installs.install_plan(db, install)))


def _installer_report(
    mac: str, secret: str, report: Callable[[Session, Install, dict[str, Any]], Any]
) -> Response:
    """What every report of a running installer does around its own step: check the
    source, authenticate the install, apply the report, commit, answer the install's summary."""
    _check_source()
    db = _installer_session(fields.mac(mac))
    install = installs.authenticate_installer(db, mac, secret)
    report(db, install, _form())
    db.commit()
    return jsonify(installs.install_summary(install))


@bp.post("/installimage/<mac>/<secret>/status")
def installimage_status(mac: str, secret: str) -> Response:
    return _installer_report(
        mac,
        secret,
        lambda db, install, body: installs.report_progress(
            db,
            install,
            phase=body.get("phase"),
            percent=body.get("percent"),
            message=body.get("message"),
        ),
    )


def _with_message(end: Callable[..., Install]) -> Callable[[Session, Install, dict[str, Any]], Any]:
    return lambda db, install, body: end(db, install, message=body.get("message"))


@bp.post("/installimage/<mac>/<secret>/done")
def installimage_done(mac: str, secret: str) -> Response:
    return _installer_report(mac, secret, _with_message(installs.finish))


@bp.post("/installimage/<mac>/<secret>/failed")
def installimage_failed(mac: str, secret: str) -> Response:
    return _installer_report(mac, secret, _with_message(installs.fail))
