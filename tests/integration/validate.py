"""Check generated host files with the real tools that will read them.

* libvirt domain and secret XML: `virt-xml-validate` (libvirt-clients) against libvirt's
  own RelaxNG schemas;
* ceph.conf: `ceph-conf` (ceph-common), which parses it as every Ceph daemon and client does;
* systemd-networkd files: `systemd-analyze verify` where it accepts them. systemd 252
  (Debian 12) verifies only unit files and answers "Failed to prepare filename" for
  .network/.netdev, so there every `[Section]` and `Key=` is checked against the
  configuration table compiled into the installed systemd-networkd binary: an unknown
  or misspelled key fails just as networkd would ignore it.

A missing tool skips (fails in CI, see skip_or_fail).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import skip_or_fail

NETWORKD_BINARIES = ("/lib/systemd/systemd-networkd", "/usr/lib/systemd/systemd-networkd")


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        skip_or_fail(f"{name} is not installed (Debian package {package})")
    return found  # type: ignore[return-value]


def libvirt_xml(path: Path, kind: str) -> None:
    """`kind` is virt-xml-validate's schema name: domain, secret …"""
    # virt-xml-validate runs xmllint, which libvirt-clients only recommends.
    _tool("xmllint", "libxml2-utils")
    result = subprocess.run(
        [_tool("virt-xml-validate", "libvirt-clients"), str(path), kind],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{path} is not a valid libvirt {kind}:\n{result.stderr}"


def ceph_conf(path: Path, key: str) -> str:
    """The value ceph-conf reads for `key` (in [global] or the default sections)."""
    result = subprocess.run(
        [_tool("ceph-conf", "ceph-common"), "-c", str(path), "--lookup", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"ceph-conf cannot read {key} from {path}: {result.stderr}"
    return result.stdout.strip()


def ceph_conf_client(path: Path, client: str, key: str) -> str:
    """The value of `key` as the Ceph client `client` (e.g. client.libvirt) sees it."""
    result = subprocess.run(
        [_tool("ceph-conf", "ceph-common"), "-c", str(path), "--name", client, "--lookup", key],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"ceph-conf: {client} has no {key} in {path}: {result.stderr}"
    return result.stdout.strip()


@functools.cache
def _analyze_verifies_network_files() -> bool:
    """Whether this systemd-analyze accepts a known-good .network file."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "10-probe.network"
        probe.write_text("[Match]\nName=lo\n")
        result = subprocess.run([analyze, "verify", str(probe)], capture_output=True, check=False)
    return result.returncode == 0


@functools.cache
def _networkd_keys() -> frozenset[str]:
    """`Section.Key` names from the gperf tables compiled into systemd-networkd."""
    for candidate in NETWORKD_BINARIES:
        binary = Path(candidate)
        if binary.exists():
            found = re.findall(
                rb"(?<=\x00)([A-Z][A-Za-z0-9]*\.[A-Z][A-Za-z0-9]*)(?=\x00)", binary.read_bytes()
            )
            return frozenset(name.decode() for name in found)
    skip_or_fail("systemd-networkd is not installed (Debian package systemd)")
    return frozenset()


def networkd_file(path: Path) -> None:
    if _analyze_verifies_network_files():
        result = subprocess.run(
            ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{path}: {result.stderr}"
        return
    known = _networkd_keys()
    section = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{path}:{number}: bad section header {line!r}"
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep and value.strip(), f"{path}:{number}: not Key=value: {line!r}"
        assert section is not None, f"{path}:{number}: key before any section"
        name = f"{section}.{key.strip()}"
        assert name in known, f"{path}:{number}: systemd-networkd does not know {name}"
