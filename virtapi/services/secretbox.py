"""Secrets at rest: AES-256-GCM with a key from a file (``VIRTAPI_SECRET_KEY_FILE``).

A stored secret is ``v1:<base64 of nonce + ciphertext>``. The ciphertext is bound to the
row it belongs to (``context``, e.g. the client's secret uuid, as associated data), so a
ciphertext copied onto another row does not decrypt. Without a key file virtapi stores no
secret at all (``SecretsUnavailable``, a 409 naming the variable) instead of keeping it in
clear.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import Conflict

KEY_VARIABLE = "VIRTAPI_SECRET_KEY_FILE"
KEY_FILE_NAME = "secrets.key"  # in the instance folder: what demo/dev mode generates
_PREFIX = "v1:"
_NONCE = 12


class SecretsUnavailable(Conflict):
    code = "no_secret_key"


class SecretBox:
    """Encrypts and decrypts short secrets with one 256-bit key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str, context: str) -> str:
        if not stored.startswith(_PREFIX):
            raise ValueError("not a virtapi secret (v1:…)")
        raw = base64.b64decode(stored[len(_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except InvalidTag:
            raise ValueError(
                f"a stored secret does not decrypt with the key in {KEY_VARIABLE} "
                "(another key, or the ciphertext belongs to another row)"
            ) from None


def read_key_file(path: str | Path, variable: str = KEY_VARIABLE) -> bytes:
    """The key in ``path`` (base64 of 32 bytes); a ValueError naming ``variable`` otherwise."""
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror}") from None
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise ValueError(
            f"{variable}: {path} must hold base64 of 32 random bytes "
            "(create one with `virtapi secret-key > FILE`)"
        )
    return key


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ensure_key_file(path: Path) -> Path:
    """Create a key file (mode 0600) unless one exists: demo and dev mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as fh:
        fh.write(new_key_text() + "\n")
    return path


def box_for(path: str | None) -> SecretBox | None:
    """The box for the configured key file, or None when none is configured."""
    return SecretBox(read_key_file(path)) if path else None


def require_box(box: SecretBox | None) -> SecretBox:
    if box is None:
        raise SecretsUnavailable(
            f"virtapi stores no secret without an encryption key: set {KEY_VARIABLE} to a "
            "file holding base64 of 32 random bytes (`virtapi secret-key > FILE`) and restart",
            errors={"key": [f"{KEY_VARIABLE} is not set"]},
        )
    return box
