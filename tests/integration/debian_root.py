"""A disposable Debian 12 root for real applies (issue 16, point 4).

`debootstrap bookworm` runs once into a cache (~/.cache/virtapi-tests, or
$VIRTAPI_TEST_CACHE) with Puppet from Debian in it; every test gets its own copy, enters it
with chroot, /proc and /dev bind-mounted and the cache's .debs linked into apt's archive
(so only the first run downloads; new ones go back to the cache), and everything is
unmounted in a finally before the copy is removed. Nothing runs against the host's own /.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("VIRTAPI_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("VIRTAPI_TEST_CACHE", Path.home() / ".cache" / "virtapi-tests"))
# Puppet from Debian (7.23); systemd for systemctl and networkd.
BASE_PACKAGES = ("systemd", "systemd-sysv", "ca-certificates", "puppet")
SALT_VERSION = "3008.3"  # the release scripts/bootstrap-tests installs on the test machine
SALT_CALL = "/opt/venv-salt/bin/salt-call"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
# A chroot must never start daemons (invoke-rc.d would run init scripts directly there).
POLICY_RC_D = "#!/bin/sh\n# virtapi tests: no daemon starts inside a chroot\nexit 101\n"
APT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
}


def unavailable() -> str | None:
    """Why no real apply can run on this machine (root, debootstrap), or None."""
    if os.geteuid() != 0:
        return "a real apply needs root (debootstrap, chroot and bind mounts)"
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (.ci/run installs it: apt-get install debootstrap)"
    return None


def mirror_unreachable(timeout: float = 15) -> str | None:
    """Why the Debian mirror cannot be used now, or None."""
    url = f"{MIRROR}/dists/{SUITE}/InRelease"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read(64)
    except OSError as exc:
        return f"the Debian mirror is unreachable: GET {url} failed ({exc})"
    return None


def _run(args: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return result.stdout


def _base_root(timeout: float = 1800) -> Path:
    """The cached Debian root with Puppet in it, built on first use (under the cache lock)."""
    base = CACHE / f"{SUITE}-root"
    archives = CACHE / "apt-archives"
    archives.mkdir(exist_ok=True)
    if (base / "usr/bin/puppet").exists():
        return base
    building = CACHE / f"{SUITE}-root.tmp"
    if building.exists():
        shutil.rmtree(building)  # an interrupted build; nothing is mounted in it
    _run(
        [
            "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
            f"--cache-dir={archives}", SUITE, str(building), MIRROR,
        ],
        timeout,
    )  # fmt: skip
    policy = building / "usr/sbin/policy-rc.d"
    policy.write_text(POLICY_RC_D)
    policy.chmod(0o755)
    (building / "var/cache/apt/archives").mkdir(parents=True, exist_ok=True)
    building.rename(base)
    return base


def _mounted_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) + "/"
    with open("/proc/self/mounts") as fh:
        points = [line.split()[1] for line in fh]
    return [p for p in points if p.startswith(prefix)]


class DebianRoot:
    """A copy of the cached root, entered with chroot."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(
        self, *args: str, timeout: float = 900, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["chroot", str(self.path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=APT_ENV,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode} in {self.path}:\n"
                f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")


def _link(source: Path, target: Path) -> None:
    """`source` at `target` (a hard link, or a copy across file systems), atomically."""
    partial = target.with_name(target.name + f".{os.getpid()}.part")
    try:
        os.link(source, partial)
    except OSError:
        shutil.copy2(source, partial)
    os.replace(partial, target)


@contextlib.contextmanager
def _archive(path: Path) -> Iterator[None]:
    """apt's archive of `path` seeded from the cache's .debs, and what apt downloaded there
    added to the cache afterwards. Linked, not bind-mounted: roots applied side by side (two
    test workers) would otherwise fight over one apt lock."""
    cache = CACHE / "apt-archives"
    archive = path / "var/cache/apt/archives"
    archive.mkdir(parents=True, exist_ok=True)
    for deb in cache.glob("*.deb"):
        _link(deb, archive / deb.name)
    try:
        yield
    finally:
        for deb in archive.glob("*.deb"):
            if not (cache / deb.name).exists():
                _link(deb, cache / deb.name)
            deb.unlink()


@contextlib.contextmanager
def _mounted(path: Path) -> Iterator[None]:
    """/proc and /dev bound into `path`, the .deb cache linked in; unmounted in any case."""
    mounts = [("/proc", path / "proc"), ("/dev", path / "dev")]
    done: list[Path] = []
    try:
        for source, target in mounts:
            subprocess.run(["mount", "--bind", source, str(target)], check=True)
            done.append(target)
        with _archive(path):
            yield
    finally:
        for target in reversed(done):
            for _attempt in range(10):
                if subprocess.run(["umount", str(target)], check=False).returncode == 0:
                    break
                time.sleep(1)  # a process of the apply may still be exiting


def _with_salt(base: Path) -> None:
    """Salt into the cached root, once: Debian 12 has no salt package, so pip in a venv."""
    if (base / SALT_CALL.lstrip("/")).exists():
        return
    root = DebianRoot(base)
    with _mounted(base):
        root.run("apt-get", "update", "-qq", timeout=600)
        # gcc and the headers: salt needs timelib, which has no wheel
        packages = ("python3-venv", "python3-dev", "gcc")
        root.run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages,
                 timeout=900)  # fmt: skip
        venv = str(Path(SALT_CALL).parents[1])
        root.run("python3", "-m", "venv", venv, timeout=300)
        # The host's CA bundle: it trusts whatever proxy this machine reaches PyPI through.
        shutil.copy2(HOST_CA, base / "tmp/host-ca.crt")
        root.run(
            "env", "PIP_CERT=/tmp/host-ca.crt",  # also for pip's build-isolation subprocess
            f"{venv}/bin/pip", "install", "-q", f"salt=={SALT_VERSION}", timeout=1800,
        )  # fmt: skip
        (base / "tmp/host-ca.crt").unlink()
    if _mounted_under(base):
        raise RuntimeError(f"still mounted under the cached root {base}")


@contextlib.contextmanager
def debian_root(parent: Path, *, salt: bool = False) -> Iterator[DebianRoot]:
    """A fresh copy of the cached root under `parent` (with Salt if asked), mounted for apt,
    Puppet and Salt; unmounted and removed afterwards (refusing to remove anything while a
    mount is left)."""
    path = parent / "root"
    CACHE.mkdir(parents=True, exist_ok=True)
    # One builder at a time, and no copy while another test adds Salt to the cached root.
    with open(CACHE / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        base = _base_root()
        if salt:
            _with_salt(base)
        subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(path)], check=True)
    shutil.copy2("/etc/resolv.conf", path / "etc/resolv.conf", follow_symlinks=True)
    try:
        with _mounted(path):
            yield DebianRoot(path)
    finally:
        left = _mounted_under(path)
        if left:
            # Never delete through a mount: that would reach the host's /dev or /proc.
            raise RuntimeError(f"still mounted, {path} kept: {left}")
        shutil.rmtree(path)
