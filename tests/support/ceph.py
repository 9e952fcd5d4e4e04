"""Ceph test data: a valid cephx key, a key file for secrets at rest."""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path
from typing import Any

from virtapi.config import override
from virtapi.services.secretbox import ensure_key_file


def cephx_key(created: int = 1_700_000_000) -> str:
    """A key as `ceph auth get-key` prints it: AES type, creation time, 16 secret bytes."""
    return base64.b64encode(struct.pack("<HQH", 1, created, 16) + os.urandom(16)).decode()


def with_secret_key(app: Any, directory: Path) -> Path:
    """Give ``app`` a key file for secrets at rest (as VIRTAPI_SECRET_KEY_FILE would)."""
    path = ensure_key_file(directory / "secrets.key")
    override(app, secret_key_file=str(path))
    return path
