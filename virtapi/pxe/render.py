"""iPXE scripts and installimage configs, as pure functions of validated values.

Every value interpolated here was validated when it was written (services/install_fields);
each is checked again against the same patterns before it reaches a line, so data that
entered the database by another path still cannot add a line or an iPXE ``${…}`` expansion.
"""

from __future__ import annotations

import re

import netaddr

from ..models.types import normalise_mac
from ..services import install_fields as fields
from ..services.installs import InstallPlan

_CRYPT_RE = re.compile(r"\$6\$(?:rounds=[0-9]{1,9}\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}")
_DRIVE_RE = re.compile(r"/dev/[a-z0-9]+")


class UnsafeValue(ValueError):
    """A value that does not fit its pattern reached the renderer."""


def _safe(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeValue(f"refusing to render {what}: {value!r} is not a valid value")
    return value


def _url(value: str, what: str) -> str:
    return _safe(value, fields.URL_RE, what)


def installimage_url(public_url: str, mac: str, secret: str) -> str:
    """The per-install config URL the installer is pointed at (the secret is in the path)."""
    base = _url(public_url.rstrip("/"), "the public URL")
    secret = _safe(secret, fields.SECRET_RE, "the install secret")
    return f"{base}/installimage/{normalise_mac(mac)}/{secret}"


def local_boot_script() -> str:
    """What every machine without an install in progress gets: boot the first local disk."""
    return (
        "#!ipxe\n"
        "# virtapi: no install in progress for this machine; booting from the local disk\n"
        # BIOS: the first hard disk. UEFI has no 0x80, so sanboot fails and 'exit' hands the
        # machine back to the firmware, which tries the next boot entry (the disk).
        "sanboot --no-describe --drive 0x80 || exit\n"
    )


def installer_script(
    *, hostname: str, mac: str, kernel_url: str, initrd_url: str, config_url: str
) -> str:
    """iPXE script booting the live installer with the installimage URL on the kernel line."""
    hostname = _safe(hostname, fields.HOSTNAME_RE, "the hostname")
    mac = normalise_mac(mac)
    kernel_url = _url(kernel_url, "the kernel URL")
    initrd_url = _url(initrd_url, "the initrd URL")
    config_url = _url(config_url, "the installimage URL")
    bootif = "01-" + mac.replace(":", "-")
    return (
        "#!ipxe\n"
        f"# virtapi: installing {hostname} ({mac})\n"
        f"kernel {kernel_url} initrd=initrd installimage={config_url} BOOTIF={bootif}\n"
        f"initrd --name initrd {initrd_url}\n"
        "boot\n"
    )


def authorized_keys(plan: InstallPlan) -> str:
    return "".join(f"{fields.ssh_key(key)}\n" for key in plan.ssh_keys)


def installimage_config(plan: InstallPlan, config_url: str) -> str:
    """The installimage configuration: target drive, hostname, partitions, image, keys, network.

    Keys installimage knows (DRIVE1, SWRAID, BOOTLOADER, HOSTNAME, PART, LV, IMAGE,
    SSHKEYS_URL) plus virtapi's own (IMAGE_CHECKSUM, ROOT_PASSWORD_HASH, ADDRESS) that the
    live system's post-install hook applies. One ``KEY value …`` per line: parse it, don't
    source it.
    """
    config_url = _url(config_url, "the installimage URL")
    lines = [
        f"# virtapi installimage config: install {int(plan.install_id)} of {plan.target} "
        f"{_safe(plan.hostname, fields.HOSTNAME_RE, 'the hostname')}",
        f"DRIVE1 {_safe(plan.drive, _DRIVE_RE, 'the drive')}",
        "SWRAID 0",
        "BOOTLOADER grub",
        f"HOSTNAME {plan.hostname}",
    ]
    # Re-validating normalises too: the result is exactly the PART/LV lines that were accepted.
    lines += fields.partitioning(plan.partitioning).split("\n")
    lines.append(f"IMAGE {_url(plan.image_url, 'the image URL')}")
    if plan.image_checksum:
        lines.append(f"IMAGE_CHECKSUM {_safe(plan.image_checksum, fields.CHECKSUM_RE, 'checksum')}")
    if plan.ssh_keys:
        lines.append(f"SSHKEYS_URL {config_url}/authorized_keys")
    if plan.root_password_hash:
        lines.append(
            f"ROOT_PASSWORD_HASH {_safe(plan.root_password_hash, _CRYPT_RE, 'the password hash')}"
        )
    lines.append("# network, from virtapi IPAM: ADDRESS <interface MAC> <address/prefix> [gateway]")
    for nic in plan.nics:
        mac = normalise_mac(nic.mac)
        for addr in nic.addresses:
            ip = netaddr.IPAddress(addr.address, addr.version)
            line = f"ADDRESS {mac} {ip}/{int(addr.prefixlen)}"
            if addr.gateway:
                line += f" {netaddr.IPAddress(addr.gateway, addr.version)}"
            lines.append(line)
    return "\n".join(lines) + "\n"
