"""A private, throwaway PostgreSQL cluster for the test session (see ../shared/TESTING.md)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
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


_WATCHDOG = """
import os, shutil, subprocess, sys
fd, as_postgres, pg_ctl, data, folder = int(sys.argv[1]), sys.argv[2] == "1", *sys.argv[3:6]
while os.read(fd, 1):
    pass
cmd = [pg_ctl, "-D", data, "-m", "immediate", "stop"]
if as_postgres:
    cmd = ["runuser", "-u", "postgres", "--", *cmd]
subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(folder, ignore_errors=True)
"""


class PostgresCluster:
    """initdb + pg_ctl as the postgres user when we are root (initdb refuses to run as root)."""

    def __init__(self, bindir: Path, extra_conf: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="virtapi-pg-"))
        self.port = free_port()
        self.extra_conf = extra_conf or {}
        self._as_postgres = os.geteuid() == 0
        self._lifeline: int | None = None
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
        # psycopg 3, the driver a plain postgresql:// URL gets in production (server-side
        # prepared statements included); tests/test_database_urls.py covers psycopg2.
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

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
        self._watch()
        return self

    def _watch(self) -> None:
        """Stop and remove the cluster however this process ends, SIGKILL included.

        A watchdog in its own session holds the read end of a pipe whose write end only we
        have; when we exit or die the kernel closes it, the watchdog reads EOF and cleans up.
        atexit or a fixture finaliser would not run after a kill or a CI timeout.
        """
        read_end, self._lifeline = os.pipe()
        subprocess.Popen(
            [
                sys.executable, "-c", _WATCHDOG, str(read_end), "1" if self._as_postgres else "0",
                str(self.bindir / "pg_ctl"), str(self.data), str(self.dir),
            ],
            pass_fds=(read_end,), start_new_session=True, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(read_end)

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
        if self._lifeline is not None:
            os.close(self._lifeline)  # the watchdog finds nothing left to do and exits
            self._lifeline = None
