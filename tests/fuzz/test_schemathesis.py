"""Schemathesis over the live OpenAPI document of a real gunicorn, as admin and as a customer.

Every operation is fuzzed (examples, boundary coverage, random fuzzing and stateful sequences
following the document's links); a 5xx, a response that does not match its documented schema or
a wrong content type fails the test. The default example count keeps the run to a few minutes;
`VIRTAPI_FUZZ_EXAMPLES=500 bash scripts/fuzz` runs it longer (docs/hardening.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, skip_or_fail
from tests.support.server import Server, running_server

EXAMPLES = int(os.environ.get("VIRTAPI_FUZZ_EXAMPLES", "3"))
SEED = os.environ.get("VIRTAPI_FUZZ_SEED", "20261122")
PHASES = os.environ.get("VIRTAPI_FUZZ_PHASES", "examples,coverage,fuzzing,stateful")
CHECKS = os.environ.get("VIRTAPI_FUZZ_CHECKS", "all")
# Every check is on; a check can be left out for a local experiment only.
EXCLUDED = os.environ.get("VIRTAPI_FUZZ_EXCLUDED", "")
# "all" bounds response times at 10 s by default; timings are never pass/fail here (two cores
# shared by the whole suite), so the bound only catches a hang.
MAX_RESPONSE_SECONDS = "120"
CONFIG = Path(__file__).with_name("schemathesis.toml")
# schemathesis' own default for positive_data_acceptance, to which documented refusals add.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def config_with_documented_refusals(document: dict[str, Any], target: Path) -> Path:
    """schemathesis.toml plus, per operation, the statuses of the refusals the document lists
    under ``x-virtapi-refusals`` (rules JSON Schema cannot state: a named object must exist,
    an address must lie in its network, If-Match must be current). Exactly those refusals
    of well-formed requests are tolerated; any other refusal still fails the run."""
    lines = [CONFIG.read_text()]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            refusals = operation.get("x-virtapi-refusals") if isinstance(operation, dict) else None
            if not refusals:
                continue
            statuses = ACCEPTED + sorted({str(r["status"]) for r in refusals})
            lines += [
                "[[operations]]",
                f"include-name = {json.dumps(f'{method.upper()} {path}')}",
                "[operations.checks.positive_data_acceptance]",
                f"expected-statuses = {json.dumps(statuses)}",
            ]
    target.write_text("\n".join(lines) + "\n")
    return target


pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_server(pg_cluster: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn (2 workers) on a private PostgreSQL database holding the demo fleet."""
    if "postgresql" not in BACKENDS:
        pytest.skip("VIRTAPI_TEST_BACKENDS excludes PostgreSQL")
    from sqlalchemy import create_engine, text

    url = pg_cluster.url()  # type: ignore[attr-defined]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE fuzz"))
    admin.dispose()
    base = tmp_path_factory.mktemp("fuzz")
    # The default failure limit: the fuzzer's own token is always served (failures only are
    # throttled), and ignored_auth's probes ("SCHEMATHESIS-INVALID-VALUE") cannot be tokens,
    # so they are answered 401 without counting.
    with running_server(base, pg_cluster.url("fuzz")) as server:  # type: ignore[attr-defined]
        yield server


@pytest.mark.parametrize("who", ["admin", "customer 1001"])
def test_schemathesis_finds_no_5xx_and_no_schema_violation(
    fuzz_server: Server, who: str, tmp_path: Path
) -> None:
    # The virtualenv's own CLI first: `.venv/bin/pytest` runs without the venv on PATH.
    beside = Path(sys.executable).parent / "schemathesis"
    cli = str(beside) if beside.exists() else shutil.which("schemathesis")
    if cli is None:
        skip_or_fail("schemathesis is not installed")
    report = tmp_path / "report.xml"
    with urllib.request.urlopen(f"{fuzz_server.url}/api/v1/openapi.json") as answer:
        config = config_with_documented_refusals(json.load(answer), tmp_path / "fuzz.toml")
    done = subprocess.run(
        [
            cli, "--config-file", str(config), "run", f"{fuzz_server.url}/api/v1/openapi.json",
            "-H", f"Authorization: Bearer {fuzz_server.tokens[who]}",
            "--max-examples", str(EXAMPLES), "--seed", SEED,
            "--phases", PHASES, "--checks", CHECKS,
            *(["--exclude-checks", EXCLUDED] if EXCLUDED else []),
            "--max-response-time", MAX_RESPONSE_SECONDS,
            # Broken Authorization headers are tested in tests/test_auth.py.
            "--generation-with-security-parameters", "false",
            "--workers", "2", "--request-timeout", "60", "--no-color",
            "--report", "junit", "--report-junit-path", str(report),
        ],
        # schemathesis keeps a cache directory in its working directory; not in the repository.
        cwd=tmp_path, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    # Belt and braces: the server itself logged no 5xx and no traceback.
    logs = fuzz_server.logs()
    assert "Traceback" not in logs, logs[-5000:]
    assert not re.findall(r'^.*" 5\d\d .*$', fuzz_server.access_log.read_text(), re.MULTILINE)
