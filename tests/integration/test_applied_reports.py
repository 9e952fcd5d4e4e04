"""The ENC script and the Salt ext_pillar report the document hash they handed over
(issue 12, drift), against a live virtapi."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.integration.test_puppet import run_enc, write_yaml_config
from tests.support.paths import REPO
from tests.support.server import Server as LiveServer

pytestmark = pytest.mark.integration

HV02 = "hv02.dc1.example.com"
CEPH02 = "ceph02.dc1.example.com"


def _get(server: LiveServer, path: str) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        server.url + path, headers={"Authorization": f"Bearer {server.reader_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return dict(resp.headers), resp.read()


def _applied(server: LiveServer, certname: str) -> str | None:
    engine = create_engine(server.database_url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT hash FROM applied_document WHERE certname = :c"), {"c": certname}
        ).scalar()
    engine.dispose()
    return row


def test_enc_script_reports_the_document_it_classified_with(
    tmp_path: Path, live_server: LiveServer, token_file: Path
) -> None:
    config = write_yaml_config(
        tmp_path / "enc.yaml",
        url=live_server.url,
        token_file=token_file,
        timeout=5,
        cache_dir=tmp_path / "cache",
    )
    result = run_enc(HV02, config)
    assert result.returncode == 0, result.stderr
    headers, _ = _get(live_server, f"/enc/{HV02}")
    assert _applied(live_server, HV02) == headers["X-Virtapi-Document"]
    drift = json.loads(_get(live_server, "/api/v1/drift")[1])
    assert HV02 not in {d["certname"] for d in drift["documents"]}


def _ext_pillar_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "virtapi_pillar", REPO / "salt/_pillar/virtapi.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ext_pillar_reports_the_document_it_rendered(
    tmp_path: Path, live_server: LiveServer
) -> None:
    pillar = _ext_pillar_module().ext_pillar(
        CEPH02,
        {},
        url=live_server.url,
        token=live_server.reader_token,
        cache_dir=str(tmp_path / "cache"),
    )
    assert pillar["virtapi"]["certname"] == CEPH02
    headers, _ = _get(live_server, f"/pillar/{CEPH02}")
    assert _applied(live_server, CEPH02) == headers["X-Virtapi-Document"]
