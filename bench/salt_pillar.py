"""Salt: the project's ext_pillar for hv01 in process, and `salt-call --local pillar.items`
with and without it (alternating, same run).

    python3 -m bench.salt_pillar                    # demo fleet on SQLite, virtapi serve
    python3 -m bench.salt_pillar --url postgresql://…/db_with_demo

Needs Salt's venv (`.venv-salt/bin/salt-call`, or salt-call on PATH) for the second part.
Never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.run import serve

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "salt" / "_pillar" / "virtapi.py"
MINION = "hv01.dc1.example.com"


def _salt_call() -> str | None:
    local = ROOT / ".venv-salt" / "bin" / "salt-call"
    return str(local) if local.exists() else shutil.which("salt-call")


def _in_process(base: str, token: str, cache_dir: str, rounds: int) -> dict[str, float]:
    spec = importlib.util.spec_from_file_location("virtapi_ext_pillar", MODULE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kwargs = {"url": base, "token": token, "cache_dir": cache_dir}
    assert module.ext_pillar(MINION, {}, **kwargs)["virtapi"]["certname"] == MINION
    figures = {}
    for label, keep_cache in (("full answer (no cached copy)", False), ("304 revalidation", True)):
        times = []
        for _ in range(rounds):
            if not keep_cache:
                shutil.rmtree(cache_dir, ignore_errors=True)
            started = time.perf_counter()
            module.ext_pillar(MINION, {}, **kwargs)
            times.append(time.perf_counter() - started)
        figures[label] = statistics.median(times) * 1000
    return figures


def _salt_call_times(salt_call: str, base: str, token: str, tmp: Path, rounds: int) -> tuple:
    token_file = tmp / "token"
    token_file.write_text(token + "\n")
    configs = {}
    for name, ext in (("with", True), ("without", False)):
        root = tmp / name
        (root / "conf").mkdir(parents=True)
        (root / "root" / "ext" / "pillar").mkdir(parents=True)
        shutil.copy(MODULE, root / "root" / "ext" / "pillar" / "virtapi.py")
        config = {
            "id": MINION,
            "file_client": "local",
            "root_dir": str(root / "root"),
            "extension_modules": str(root / "root" / "ext"),
            "file_roots": {"base": [str(ROOT / "salt" / "states")]},
        }
        if ext:
            config["ext_pillar"] = [{"virtapi": {"url": base, "token_file": str(token_file)}}]
        (root / "conf" / "minion").write_text(yaml.safe_dump(config))
        configs[name] = root / "conf"
    times: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):
        for name, confdir in configs.items():  # alternating, so both see the same load
            started = time.perf_counter()
            result = subprocess.run(
                [salt_call, "--local", f"--config-dir={confdir}", "pillar.items", "--out=json"],
                capture_output=True,
                text=True,
                check=False,
            )
            times[name].append(time.perf_counter() - started)
            assert result.returncode == 0, result.stderr
            if name == "with":
                assert '"virtapi"' in result.stdout, result.stderr[-2000:]
    return statistics.median(times["with"]), statistics.median(times["without"])


def _mark(ok: bool) -> str:
    return "✔" if ok else "✘"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="in-process calls per figure")
    parser.add_argument("--salt-rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="virtapi-salt-bench-") as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp / 'demo.sqlite'}"
        env = {**os.environ, "VIRTAPI_DATABASE_URL": url, "VIRTAPI_INSTANCE_PATH": str(tmp)}
        demo = subprocess.run(
            [sys.executable, "-m", "virtapi.cli", "demo"],
            env=env, capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        token = dict(re.findall(r"^(.+?) token: (\S+)$", demo.stdout, re.MULTILINE))["reader"]
        with serve(url, 2) as base:
            load = os.getloadavg()[0]
            for label, ms in _in_process(base, token, str(tmp / "cache"), args.rounds).items():
                print(f"ext_pillar for hv01 in process, {label}: median {ms:.1f} ms"
                      f" (budget < 25 ms {_mark(ms < 25)}; load average {load:.1f})")  # fmt: skip
            salt_call = _salt_call()
            if salt_call is None:
                print("salt-call not found: .venv-salt or PATH")
                return
            with_ext, without = _salt_call_times(salt_call, base, token, tmp, args.salt_rounds)
            print(
                f"salt-call --local pillar.items: {with_ext:.2f} s with the ext_pillar,"
                f" {without:.2f} s without ({(with_ext / without - 1) * 100:+.1f} %,"
                f" budget ≤ 10 % {_mark(with_ext <= without * 1.1)};"
                f" medians of {args.salt_rounds} alternating runs;"
                f" load average {os.getloadavg()[0]:.1f})"
            )


if __name__ == "__main__":
    main()
