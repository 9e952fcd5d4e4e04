"""Shared bits of the install tests: real-shaped SSH keys and the demo machines' identities."""

from __future__ import annotations

import base64
import hashlib
import uuid

WEB1_HOST = "web1.c1001.example.net"
WEB1_UUID = uuid.uuid5(uuid.NAMESPACE_DNS, WEB1_HOST)
WEB1_MAC = "52:54:00:00:e9:01"
APP1_UUID = uuid.uuid5(uuid.NAMESPACE_DNS, "app1.c1002.example.net")


def ed25519_key(seed: str, comment: str = "") -> str:
    """A well-formed ssh-ed25519 public key line (the blob is 32 pseudo-random bytes)."""

    def sshstr(raw: bytes) -> bytes:
        return len(raw).to_bytes(4, "big") + raw

    blob = sshstr(b"ssh-ed25519") + sshstr(hashlib.sha256(seed.encode()).digest())
    line = f"ssh-ed25519 {base64.b64encode(blob).decode()}"
    return f"{line} {comment}" if comment else line
