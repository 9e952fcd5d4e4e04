"""What the storage host tests share (issue 17): a live virtapi of their own with the demo
fleet, admin calls to it, and the host command they run."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import skip_or_fail
from tests.support.paths import REPO
from tests.support.server import Server, running_server

COMMAND = REPO / "puppet/modules/virtapi/files/virtapi-backup"
HV01 = "hv01.dc1.example.com"
WEB1 = "web1.c1001.example.net"
MiB = 1024**2


def api(server: Server, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One call with the admin token; the JSON answer (None for an empty one)."""
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {server.tokens['admin']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        raw = resp.read()
        return json.loads(raw) if raw else None


@contextmanager
def qemu_server(factory: pytest.TempPathFactory, name: str) -> Iterator[Server]:
    """A live virtapi with the demo fleet on its own SQLite file, where qemu-img is here."""
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        skip_or_fail("qemu-img/qemu-io are not installed (Debian: qemu-utils)")
    base = factory.mktemp(name)
    with running_server(base, f"sqlite:///{base / 'virtapi.sqlite'}", workers=1) as live:
        yield live
