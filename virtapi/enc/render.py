"""Reshape the node document for Puppet: the ENC answer and the Hiera data hash.

Both are pure functions of the document (no database access), so ENC, Hiera and the
Salt pillar can never disagree about a node.
"""

from __future__ import annotations

from typing import Any

from ..services.config_data import class_parameters

# Parameters each class of the Puppet module `virtapi` accepts, taken from the node
# document. Puppet rejects unknown class parameters, so the views pass exactly these
# and the document may grow new fields without breaking catalog compilation.
CLASS_PARAMETERS: dict[str, tuple[str, ...]] = {
    "virtapi::hypervisor": (
        "virt_methods",
        "cores",
        "ram",
        "local_storage_gb",
        "vg_name",
        "local_storage_path",
        "underlay_ipv4",
        "underlay_ipv6",
        "ceph_monitors",
        "vms",
        "vxlans",
        "backup_timers",  # issue 17
    ),
    "virtapi::node_network": ("interfaces",),
    "virtapi::ceph": ("monitors", "mon_host"),
    "virtapi::ceph::mon": ("port",),
    "virtapi::ceph::osd": (),
    "virtapi::guest": ("uuid", "hostname", "interfaces"),
}


# Parameters served by Hiera only, never as ENC class parameters. The Ceph client: the module
# data declares it `convert_to: Sensitive`, which an ENC parameter would bypass (a key in
# reports). The Ceph cluster: an ENC parameter would override what an operator sets in a Hiera
# level before virtapi's (e.g. the fsid of a cluster not yet in the inventory), while automatic
# parameter lookup finds the operator's value first.
HIERA_ONLY: dict[str, tuple[str, ...]] = {
    "virtapi::hypervisor": ("ceph_cluster", "ceph_client"),
    "virtapi::ceph": ("cluster", "client"),
}
# The Hiera keys that carry a Ceph key for a token with the secrets scope.
SECRET_KEYS = frozenset({"virtapi::hypervisor::ceph_client", "virtapi::ceph::client"})


def _pick(section: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: section[name] for name in names if name in section}


def node_classes(document: dict[str, Any], *, hiera: bool = False) -> dict[str, dict[str, Any]]:
    """Class name -> parameters for every role of the node, in declaration order.

    `virtapi::ceph` comes before the mon/osd classes: Puppet declares all ENC classes
    with their parameters before evaluating any, so the role classes' `include
    virtapi::ceph` then finds it already declared with virtapi's values.
    """
    roles = document.get("roles", [])
    classes: dict[str, dict[str, Any]] = {}

    def params(name: str) -> tuple[str, ...]:
        return CLASS_PARAMETERS[name] + (HIERA_ONLY.get(name, ()) if hiera else ())

    if document.get("kind") == "node" and roles:
        classes["virtapi::node_network"] = _pick(
            document["node"], CLASS_PARAMETERS["virtapi::node_network"]
        )
    if "hypervisor" in roles and "hypervisor" in document:
        classes["virtapi::hypervisor"] = _pick(
            document["hypervisor"], params("virtapi::hypervisor")
        )
    ceph = document.get("ceph")
    if ceph is not None and ("ceph_mon" in roles or "ceph_osd" in roles):
        classes["virtapi::ceph"] = _pick(ceph, params("virtapi::ceph"))
        if "ceph_mon" in roles:
            classes["virtapi::ceph::mon"] = {"port": ceph["mon_port"]}
        if "ceph_osd" in roles:
            classes["virtapi::ceph::osd"] = {}
    if document.get("kind") == "vm" and "vm" in document:
        classes["virtapi::guest"] = _pick(document["vm"], CLASS_PARAMETERS["virtapi::guest"])
    # Classes assigned by level (issue 18) after the role classes; the virtapi namespace is
    # refused there, so they never replace a role class.
    classes.update(class_parameters(document.get("config", {})))
    return classes


def top_scope_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """Top-scope variables ($::virtapi_roles …) for site.pp conditionals and Hiera paths."""
    section = document.get("node") or document.get("vm") or {}
    params = {
        "virtapi_kind": document.get("kind"),
        "virtapi_roles": list(document.get("roles", [])),
        "virtapi_location": section.get("location"),
        "virtapi_area": section.get("area"),
        "virtapi_state": section.get("state") or section.get("actual_state"),
    }
    if document.get("kind") == "vm":
        params["virtapi_customer_id"] = section.get("customer_id")
        params["virtapi_hypervisor"] = section.get("hypervisor")
    # Puppet turns YAML null into undef anyway; leaving them out keeps the answer short.
    return {key: value for key, value in params.items() if value is not None}


def enc_view(document: dict[str, Any]) -> dict[str, Any]:
    """The ENC answer: classes with parameters, top-scope parameters, environment."""
    return {
        "classes": node_classes(document),
        "parameters": top_scope_parameters(document),
        "environment": document.get("environment", "production"),
    }


def hiera_escape(value: Any) -> Any:
    """Make every string safe from Hiera interpolation, recursively.

    Hiera interpolates `%{...}` in all values it returns, including those of a
    data_hash backend; `%{literal('%')}` is Hiera's own way of writing a literal `%`.
    """
    if isinstance(value, str):
        return value.replace("%{", "%{literal('%')}{")
    if isinstance(value, dict):
        return {key: hiera_escape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [hiera_escape(item) for item in value]
    return value


def hiera_view(document: dict[str, Any]) -> dict[str, Any]:
    """Flat Hiera data: `<class>::<parameter>` keys for automatic parameter lookup,
    plus `virtapi::roles` (for `include virtapi`) and the whole node section."""
    data: dict[str, Any] = {
        "virtapi::roles": list(document.get("roles", [])),
        "virtapi::kind": document.get("kind"),
        "virtapi::environment": document.get("environment", "production"),
    }
    if "node" in document:
        data["virtapi::node"] = document["node"]
    if "vm" in document:
        data["virtapi::vm"] = document["vm"]
    # Assigned data first: the keys virtapi derives are in its own namespace anyway.
    data.update(document.get("config", {}).get("data", {}))
    for class_name, params in node_classes(document, hiera=True).items():
        for param, value in params.items():
            data[f"{class_name}::{param}"] = value
    return hiera_escape(data)
