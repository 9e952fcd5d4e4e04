"""Generate a synthetic fleet as an import document (docs/scale.md).

python3 -m bench.fleet --hypervisors 1000 --vms-per-hypervisor 20 -o fleet.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import uuid
from typing import Any

import netaddr

GiB = 1024**3
DOMAIN = "dc1.example.com"
VMS_PER_CUSTOMER = 10


def _mac(prefix: int, n: int) -> str:
    raw = (prefix << 24) | n
    return ":".join(f"{(raw >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def generate(
    hypervisors: int = 10,
    vms_per_hypervisor: int = 20,
    ceph_nodes: int = 3,
    networks: int = 4,
) -> dict[str, Any]:
    """A fleet: hypervisors with kvm (+qemu on every tenth), Ceph OSD nodes (the first three
    also monitors), ``networks`` public IPv4+IPv6 network pairs sized for the VMs, one VLAN
    per customer of ten VMs, and VMs with one interface (an IPv4 and an IPv6 address, the
    customer's VLAN on every other VM) and one or two disks."""
    total_vms = hypervisors * vms_per_hypervisor
    networks = max(1, networks)
    per_net = max(1, math.ceil(total_vms / networks))
    hostbits = max(2, math.ceil(math.log2(per_net + 3)))
    mgmt4 = netaddr.IPNetwork("10.0.0.0/16")
    mgmt6 = netaddr.IPNetwork("fd00:10::/64")
    doc: dict[str, Any] = {
        "version": 1,
        "nodes": [],
        "networks": {
            "ipv4": [
                {
                    "cidr": str(mgmt4),
                    "gateway": "10.0.0.1",
                    "description": "management",
                    "purpose": "management",
                }  # fmt: skip
            ],
            "ipv6": [
                {
                    "cidr": str(mgmt6),
                    "gateway": "fd00:10::1",
                    "description": "management",
                    "purpose": "management",
                }  # fmt: skip
            ],
        },
        "vlans": [],
        "ceph_pools": [{"name": "rbd"}, {"name": "vms-ssd", "description": "SSD-backed"}],
        "vms": [],
    }
    public4, public6 = [], []
    base4 = int(netaddr.IPAddress("100.64.0.0"))
    for i in range(networks):
        net4 = netaddr.IPNetwork(f"{netaddr.IPAddress(base4 + (i << hostbits))}/{32 - hostbits}")
        net6 = netaddr.IPNetwork(f"2001:db8:{i:x}::/64")
        public4.append(net4)
        public6.append(net6)
        doc["networks"]["ipv4"].append(
            {"cidr": str(net4), "gateway": str(net4[1]), "description": f"public {i}"}
        )
        doc["networks"]["ipv6"].append(
            {"cidr": str(net6), "gateway": str(net6[1]), "description": f"public {i}"}
        )

    node_no = 0

    def node_interface() -> dict[str, Any]:
        nonlocal node_no
        node_no += 1
        return {
            "name": "eno1",
            "mac": _mac(0x0CC47A, node_no),
            "purpose": "management",
            "addresses": [str(mgmt4[10 + node_no]), str(mgmt6[10 + node_no])],
        }

    for h in range(1, hypervisors + 1):
        doc["nodes"].append(
            {
                "fqdn": f"hv{h:05d}.{DOMAIN}",
                "location": f"dc1 rack {h // 40 + 1}",
                "area": "ab"[h % 2],
                "hypervisor": {
                    "cores": 64,
                    "ram": 512 * GiB,
                    "local_storage_gb": 4000,
                    "vg_name": "vg0",
                    "local_storage_path": "/var/lib/libvirt/images",
                    "methods": ["kvm", "qemu"] if h % 10 == 0 else ["kvm"],
                },
                "interfaces": [node_interface()],
            }
        )
    for c in range(1, ceph_nodes + 1):
        doc["nodes"].append(
            {
                "fqdn": f"ceph{c:03d}.{DOMAIN}",
                "location": f"dc1 storage rack {c // 20 + 1}",
                "area": "ab"[c % 2],
                "ceph_osd": True,
                "ceph_mon": {"port": 6789} if c <= 3 else None,
                "interfaces": [node_interface()],
            }
        )

    customers = max(1, math.ceil(total_vms / VMS_PER_CUSTOMER))
    for c in range(customers):
        doc["vlans"].append({"vni": 10000 + c, "name": f"private-{c}", "customer_id": 1000 + c})
    for n in range(total_vms):
        net = n % networks
        slot = n // networks
        customer = n // VMS_PER_CUSTOMER
        hv = n // vms_per_hypervisor + 1
        host = f"vm{n:06d}.c{1000 + customer}.example.net"
        disks: list[dict[str, Any]] = [
            {"type": "lvm", "size": 20 * GiB, "cache": "none"},
        ]
        if n % 2:
            disks.append(
                {
                    "type": "ceph",
                    "size": 100 * GiB,
                    "cache": "writeback",
                    "read_iops_limit": 2000,
                    "write_iops_limit": 1000,
                    "ceph": {"pool": "vms-ssd" if n % 4 == 1 else "rbd", "discard": True},
                }
            )
        doc["vms"].append(
            {
                "hostname": host,
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, host)),
                "customer_id": 1000 + customer,
                "cores": 2 + n % 4,
                "ram": (2 + n % 8) * GiB,
                "cputime_limit": 100 * (2 + n % 4),
                "requested_state": "running",
                "actual_state": "running",
                "placement": {"hypervisor": f"hv{hv:05d}.{DOMAIN}", "method": "kvm"},
                "interfaces": [
                    {
                        "mac": _mac(0x525400, n + 1),
                        "vlans": [10000 + customer] if n % 2 == 0 else [],
                        "addresses": [
                            str(public4[net][2 + slot]),
                            str(public6[net][2 + slot]),
                        ],
                    }
                ],
                "disks": disks,
            }
        )
    return doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hypervisors", type=int, default=10)
    parser.add_argument("--vms-per-hypervisor", type=int, default=20)
    parser.add_argument("--ceph-nodes", type=int, default=3)
    parser.add_argument("--networks", type=int, default=4)
    parser.add_argument("-o", "--output", help="default: stdout (JSON)")
    args = parser.parse_args(argv)
    doc = generate(args.hypervisors, args.vms_per_hypervisor, args.ceph_nodes, args.networks)
    text = json.dumps(doc, indent=1)
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
