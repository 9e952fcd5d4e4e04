"""The ENC script, the Hiera backend and the Salt ext_pillar report the document hash they
handed over (issue 12, drift), for nodes and VMs, against a live virtapi."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.integration.test_feed_consumers import _bump_vm
from tests.integration.test_puppet import PuppetSite, run_enc, write_yaml_config
from tests.integration.test_salt import Minion
from tests.support.paths import REPO
from tests.support.server import Server as LiveServer

pytestmark = pytest.mark.integration

HV02 = "hv02.dc1.example.com"
CEPH02 = "ceph02.dc1.example.com"
CEPH01 = "ceph01.dc1.example.com"
VM = "db1.c1001.example.net"  # on hv01


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


def _forget(server: LiveServer, certname: str) -> None:
    """No applied hash for certname: what a client reports next is the only one."""
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM applied_document WHERE certname = :c"), {"c": certname})
    engine.dispose()


def _drift(server: LiveServer) -> dict[str, Any]:
    drift = json.loads(_get(server, "/api/v1/drift")[1])
    return {d["certname"]: d for d in drift["documents"]}


def test_hiera_backend_reports_the_document_a_catalog_was_compiled_from(
    tmp_path: Path, live_server: LiveServer, token_file: Path, puppet: str
) -> None:
    site = PuppetSite(tmp_path, live_server, token_file, puppet)
    _forget(live_server, CEPH01)
    looked = site.lookup(CEPH01, "virtapi::roles")
    assert looked.returncode == 0, looked.stderr
    assert _applied(live_server, CEPH01) is None  # a lookup compiles nothing
    # Hiera only (no ENC): `include virtapi` takes everything from the Hiera backend.
    result = site.run(
        "apply", "--certname", CEPH01, "--node_terminus", "plain", "-e", "include virtapi",
        "--detailed-exitcodes",
    )  # fmt: skip
    assert result.returncode in (0, 2), result.stdout + result.stderr
    assert "could not report" not in result.stderr
    headers, _ = _get(live_server, f"/hiera/{CEPH01}")
    assert _applied(live_server, CEPH01) == headers["X-Virtapi-Document"]
    assert headers["X-Virtapi-Report"] == f"/api/v1/nodes/{CEPH01}/report"


def test_vm_documents_are_reported_by_every_client_and_drift_shows_them(
    tmp_path: Path, live_server: LiveServer, token_file: Path, puppet: str, salt_call: str
) -> None:
    headers, _ = _get(live_server, f"/enc/{VM}")
    current = headers["X-Virtapi-Document"]
    assert headers["X-Virtapi-Report"].startswith("/api/v1/vms/")

    _forget(live_server, VM)
    config = write_yaml_config(
        tmp_path / "enc.yaml", url=live_server.url, token_file=token_file, cache_dir=tmp_path / "c"
    )
    enc = run_enc(VM, config)
    assert enc.returncode == 0 and "could not report" not in enc.stderr, enc.stderr
    assert _applied(live_server, VM) == current

    _forget(live_server, VM)
    site = PuppetSite(tmp_path / "puppet", live_server, token_file, puppet)
    applied = site.run(
        "apply", "--certname", VM, "--node_terminus", "plain", "-e", "include virtapi",
        "--detailed-exitcodes",
    )  # fmt: skip
    assert applied.returncode in (0, 2), applied.stdout + applied.stderr
    assert _applied(live_server, VM) == current

    _forget(live_server, VM)
    minion = Minion(tmp_path / "salt", salt_call, VM, live_server.url, token_file)
    result, pillar = minion.call("pillar.items")
    assert result.returncode == 0 and pillar["virtapi"]["vm"]["hostname"] == VM, result.stderr
    assert _applied(live_server, VM) == current
    assert VM not in _drift(live_server)

    # The VM changes: it drifts, with the patch from what it applied to what it should be.
    _bump_vm(live_server, 1, VM)
    try:
        drifted = _drift(live_server)[VM]
        assert drifted["applied"] == current and drifted["current"] != current
        assert {"op": "replace", "path": "/vm/cores"} in [
            {k: p[k] for k in ("op", "path")} for p in drifted["patch"]
        ]
    finally:
        _bump_vm(live_server, -1, VM)
    assert VM not in _drift(live_server)  # back to what it applied


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


def test_ext_pillar_reports_each_hash_once(tmp_path: Path, live_server: LiveServer) -> None:
    """A revalidated pillar whose hash this cache already reported costs one request: the
    report (a write) is sent again only when the hash differs from the one last reported."""
    module = _ext_pillar_module()
    kwargs = {"url": live_server.url, "token": live_server.reader_token,
              "cache_dir": str(tmp_path / "cache")}  # fmt: skip
    report = f"/api/v1/nodes/{HV02}/report"
    offset = live_server.log_offset()
    module.ext_pillar(HV02, {}, **kwargs)
    assert len(live_server.requests_since(offset, report)) == 1
    offset = live_server.log_offset()
    module.ext_pillar(HV02, {}, **kwargs)
    assert live_server.requests_since(offset, f"/pillar/{HV02}")[0].find('" 304') > 0
    assert live_server.requests_since(offset, report) == []
    # The server's hash differs from the one this cache last reported: sent on the 304.
    cache_file = tmp_path / "cache" / f"{HV02}.json"
    cached = json.loads(cache_file.read_text())
    cache_file.write_text(json.dumps({**cached, "reported": "an older hash"}))
    offset = live_server.log_offset()
    module.ext_pillar(HV02, {}, **kwargs)
    assert len(live_server.requests_since(offset, report)) == 1
    assert json.loads(cache_file.read_text())["reported"] == cached["reported"]
    assert _applied(live_server, HV02) == cached["reported"]
