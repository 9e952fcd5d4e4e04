"""Validation of every value that ends up in an iPXE script or an installimage config.

Both formats are line-based and read by tools that interpret ``$``, ``#``, quotes and
whitespace (iPXE expands ``${var}``; installimage configs are parsed by shell code). So
nothing a customer or operator sends is escaped later: it is restricted here, at the door,
to characters that mean nothing special to either, and the renderers check again.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from .. import values
from . import validation
from .errors import InvalidInput

HOSTNAME_RE = re.compile(values.HOSTNAME_PATTERN)
# Scheme, host (name, IPv4 or [IPv6]), optional port and a path of inert characters; no
# query strings: '&', '?', '$', ';', quotes and spaces all mean something to a shell or iPXE.
# As patterns too, which the REST schemas publish (api/installs.py).
URL_PATTERN = (
    r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/%+=,@:-]*)?$"
)
URL_RE = re.compile(URL_PATTERN)
_CHECKSUM = r"(?:(?:md5|sha1|sha256|sha512):)?[0-9A-Fa-f]{32,128}"
CHECKSUM_PATTERN = f"^(?:{_CHECKSUM})?$"  # empty: no checksum
CHECKSUM_RE = re.compile(_CHECKSUM)
_TOKEN_RE = re.compile(r"[A-Za-z0-9/._-]+")
_SIZE_RE = re.compile(r"(?:[0-9]+[MGT]?|all)")
PHASE_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
SECRET_RE = re.compile(r"[0-9a-f]{64}")
MAX_SSH_KEYS = 32
MAX_MESSAGE = 1000


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", errors={field: [message]})


def hostname(value: Any, field: str = "hostname") -> str:
    """A DNS name (RFC 1123 labels, lower case), as for every hostname in virtapi."""
    return validation.validate_hostname(value, field)


def name(value: Any, field: str) -> str:
    """An image name, OS or version: letters, digits, '.', '_', '-' (64 at most)."""
    return validation.validate_name(value, field)


def url(value: Any, field: str = "url") -> str:
    """An http(s) URL without query string, spaces, quotes or shell metacharacters."""
    if not isinstance(value, str) or len(value) > 1024 or not URL_RE.fullmatch(value):
        raise _invalid(
            field,
            "must be an http:// or https:// URL whose path holds only letters, digits "
            "and . _ ~ / % + = , @ : - (no query string, spaces or quotes)",
        )
    return value


def checksum(value: Any, field: str = "checksum") -> str:
    """Empty, or hex digits optionally prefixed by the algorithm (``sha256:…``)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not CHECKSUM_RE.fullmatch(value):
        raise _invalid(field, "must be empty or hex digits, optionally prefixed 'sha256:'")
    return value


def partitioning(value: Any, field: str = "partitioning") -> str:
    """installimage PART and LV lines, normalised to single spaces and one line each.

    ``PART <mount> <filesystem> <size> [crypt]`` and ``LV <vg> <name> <mount> <filesystem>
    <size>``; sizes are a number with an optional M/G/T suffix, or ``all``.
    """
    if not isinstance(value, str):
        raise _invalid(field, "must be a string of PART/LV lines")
    lines: list[str] = []
    for number, raw in enumerate(value.replace("\r\n", "\n").split("\n"), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        where = f"line {number}"
        if any(not _TOKEN_RE.fullmatch(t) for t in tokens):
            raise _invalid(
                field, f"{where}: only letters, digits, '/', '.', '_', '-' and spaces allowed"
            )
        keyword, args = tokens[0], tokens[1:]
        if keyword == "PART":
            if len(args) not in (3, 4) or (len(args) == 4 and args[3] != "crypt"):
                raise _invalid(field, f"{where}: expected 'PART <mount> <fs> <size> [crypt]'")
            size = args[2]
        elif keyword == "LV":
            if len(args) != 5:
                raise _invalid(field, f"{where}: expected 'LV <vg> <name> <mount> <fs> <size>'")
            size = args[4]
        else:
            raise _invalid(field, f"{where}: must start with PART or LV, not {keyword!r}")
        if not _SIZE_RE.fullmatch(size):
            raise _invalid(field, f"{where}: size {size!r} must be a number with M/G/T, or 'all'")
        lines.append(" ".join(tokens))
    if not lines:
        raise _invalid(field, "needs at least one PART line")
    if not any(line.startswith("PART ") for line in lines):
        raise _invalid(field, "needs at least one PART line")
    return "\n".join(lines)


def ssh_key(value: Any, field: str = "ssh_keys") -> str:
    """One OpenSSH public key line whose blob really is a key of the named type.

    Keys are served as an authorized_keys file of their own, never interpolated into the
    installimage config, so the shared one-line check (printable comment) is enough there.
    """
    problem = validation.ssh_key_problem(value)
    if problem:
        raise _invalid(field, problem)
    kind, blob = value.split(" ", 2)[:2]
    if not _key_blob_ok(kind, base64.b64decode(blob)):
        raise _invalid(field, f"the key data is not a {kind} public key")
    return value


def _key_blob_ok(kind: str, raw: bytes) -> bool:
    """The blob is a sequence of SSH strings (uint32 length + bytes) that ends exactly where
    the data does, the first naming ``kind``; an Ed25519 key is then 32 bytes."""
    parts: list[bytes] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            return False
        length = int.from_bytes(raw[at : at + 4], "big")
        at += 4
        if at + length > len(raw):
            return False
        parts.append(raw[at : at + length])
        at += length
    if len(parts) < 2 or parts[0] != kind.encode():
        return False
    return not (kind == "ssh-ed25519" and (len(parts) != 2 or len(parts[1]) != 32))


def ssh_keys(values: Any, field: str = "ssh_keys") -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise _invalid(field, "must be a list of public key lines")
    if len(values) > MAX_SSH_KEYS:
        raise _invalid(field, f"at most {MAX_SSH_KEYS} keys")
    keys = [ssh_key(v, field) for v in values]
    return list(dict.fromkeys(keys))


def root_password(value: Any, field: str = "root_password") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 8 <= len(value) <= 256:
        raise _invalid(field, "must be 8 to 256 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _invalid(field, "must not contain control characters")
    return value


def mac(value: Any, field: str = "mac") -> str:
    """An interface MAC in any usual spelling, as ``aa:bb:cc:dd:ee:ff``."""
    try:
        return str(values.parse_mac(value))
    except values.InvalidValue as exc:
        raise _invalid(field, str(exc)) from None


def phase(value: Any, field: str = "phase") -> str:
    if not isinstance(value, str) or not PHASE_RE.fullmatch(value):
        raise _invalid(field, "must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    return value


def percent(value: Any, field: str = "percent") -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise _invalid(field, "must be an integer from 0 to 100")
    return value


def message(value: Any, field: str = "message") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    # Stored and shown, never rendered into a script: just keep it bounded and printable.
    cleaned = "".join(c if c.isprintable() else " " for c in value)
    return cleaned[:MAX_MESSAGE]
