"""The test session's private PostgreSQL cluster never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.support.paths import REPO
from tests.support.pg import pg_bindir

STARTER = """
import sys, time
from pathlib import Path
from tests.support.pg import PostgresCluster
cluster = PostgresCluster(Path(sys.argv[1])).init().start()
print(cluster.port, cluster.dir, flush=True)
time.sleep(600)
"""


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.integration
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_cluster_is_stopped_and_removed_when_its_process_is_killed(how: signal.Signals) -> None:
    bindir = pg_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries (initdb) not installed")
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(bindir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port_text, folder = proc.stdout.readline().split()  # type: ignore[union-attr]
        port = int(port_text)
        assert _accepts(port) and Path(folder).is_dir()
    finally:
        os.kill(proc.pid, how)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_accepts(port) or Path(folder).exists()):
        time.sleep(0.2)
    assert not _accepts(port), "the cluster still listens after its test process died"
    assert not Path(folder).exists(), "the cluster's folder was left behind"
