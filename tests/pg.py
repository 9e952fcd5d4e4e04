"""A private, throwaway PostgreSQL cluster for the test session (see ../shared/TESTING.md)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    """initdb + pg_ctl as the postgres user when we are root (initdb refuses to run as root)."""

    def __init__(self, bindir: Path, extra_conf: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="virtapi-pg-"))
        self.port = free_port()
        self.extra_conf = extra_conf or {}
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{dbname}"

    def init(self) -> PostgresCluster:
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "-N",
        )  # fmt: skip
        return self

    def start(self) -> PostgresCluster:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        opts += " -c max_connections=200"
        for key, value in self.extra_conf.items():
            opts += f" -c {key}={value}"
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
            "-w", "-o", opts, "start",
        )  # fmt: skip
        return self

    def start_replica(self) -> PostgresCluster:
        """A streaming replica of this (running) cluster: pg_basebackup -R, own port.

        initdb's default pg_hba.conf already trusts replication connections from 127.0.0.1,
        and PostgreSQL's default wal_level is ``replica``.
        """
        replica = PostgresCluster(self.bindir, self.extra_conf)
        replica._run(
            str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        return replica.start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
