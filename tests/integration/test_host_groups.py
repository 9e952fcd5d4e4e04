"""Issue 18 with real clients: a class, a parameter and free data assigned through a host
group reach `puppet apply` (through our ENC), `puppet lookup` (through our Hiera backend,
`virtapi::hiera_data`) and `salt-call pillar.items` (through our ext_pillar)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_puppet import PuppetSite
from tests.integration.test_salt import Minion
from tests.support.paths import REPO
from tests.support.server import Server as LiveServer

pytestmark = pytest.mark.integration

PROFILE = REPO / "tests" / "integration" / "fixtures" / "puppet" / "profile"
# A node the other integration tests never apply, so the group changes nothing of theirs.
CEPH02 = "ceph02.dc1.example.com"
MESSAGE = "hello from the motd group"


def _api(live: LiveServer, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{live.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {live.tokens['admin']}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


@pytest.fixture
def motd_group(live_server: LiveServer) -> Iterator[dict[str, Any]]:
    group = _api(
        live_server,
        "POST",
        "/api/v1/host-groups",
        {
            "name": "motd-integration",
            "classes": {"profile::motd": {"message": MESSAGE}},
            "data": {"site::banner": "free data from a group"},
            "members": [CEPH02],
        },
    )
    try:
        yield group
    finally:
        _api(live_server, "DELETE", f"/api/v1/host-groups/{group['id']}")


def test_puppet_applies_a_group_class_with_its_parameter(
    tmp_path: Path, live_server: LiveServer, token_file: Path, puppet: str, motd_group: Any
) -> None:
    site = PuppetSite(tmp_path, live_server, token_file, puppet)
    (site.env_dir / "modules" / "profile").symlink_to(PROFILE)
    common = site.env_dir / "data" / "common.yaml"
    local = yaml.safe_load(common.read_text())
    common.write_text(yaml.safe_dump({**local, "profile::motd::root": str(site.root)}))

    node = site.run("node", "find", CEPH02, "--render-as", "yaml")
    assert node.returncode == 0, node.stderr
    assert MESSAGE in node.stdout
    applied = site.run("apply", "--certname", CEPH02, "-e", "", "--detailed-exitcodes")
    assert applied.returncode in (0, 2), applied.stdout + applied.stderr
    assert (site.root / "motd").read_text() == MESSAGE + "\n"
    # Our Hiera backend answers the group's free data key and the class parameter.
    banner = site.lookup(CEPH02, "site::banner")
    assert banner.returncode == 0, banner.stderr
    assert json.loads(banner.stdout) == "free data from a group"
    param = site.lookup(CEPH02, "profile::motd::message")
    assert json.loads(param.stdout) == MESSAGE


def test_salt_call_pillar_carries_the_group_data(
    tmp_path: Path, salt_call: str, live_server: LiveServer, token_file: Path, motd_group: Any
) -> None:
    minion = Minion(tmp_path / CEPH02, salt_call, CEPH02, live_server.url, token_file)
    result, pillar = minion.call("pillar.items")
    assert result.returncode == 0, result.stderr
    config = pillar["virtapi"]["config"]
    assert config["classes"] == ["profile::motd"]
    assert config["data"]["profile::motd::message"] == MESSAGE
    assert config["data"]["site::banner"] == "free data from a group"
