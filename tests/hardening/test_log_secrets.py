"""No token, token hash or install secret in any log line of a real gunicorn.

gunicorn writes its access log and its error log (debug level, the chattiest) to files; the test
sends valid and invalid tokens in headers and query strings, posts the HTML login form, and runs
an install's secret URLs, then greps both files for every secret it used.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.ceph import cephx_key
from tests.support.installs import WEB1_MAC, WEB1_UUID, ed25519_key
from tests.support.server import Server, running_server
from virtapi.services.tokens import hash_token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("logs")
    with running_server(
        base, f"sqlite:///{base / 'virtapi.sqlite'}", VIRTAPI_PXE_ALLOWED_NETWORKS="127.0.0.0/8"
    ) as srv:
        yield srv


def call(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    opener: Any = None,
) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_no_secret_in_access_or_error_log(server: Server) -> None:
    admin = server.tokens["admin"]
    customer = server.tokens["customer 1001"]
    wrong = "va_" + "Wr0ngButWellFormed" * 2
    secrets = [admin, customer, wrong, hash_token(admin), hash_token(customer)]
    bearer = {"Authorization": f"Bearer {admin}"}

    assert call(f"{server.url}/api/v1/whoami", headers=bearer)[0] == 200
    assert (
        call(f"{server.url}/api/v1/vms", headers={"Authorization": f"Bearer {customer}"})[0] == 200
    )
    assert (
        call(f"{server.url}/api/v1/whoami", headers={"Authorization": f"Bearer {wrong}"})[0] == 401
    )
    # Tokens in query strings are not a way to authenticate, but clients try; never log them.
    for query in (f"token={admin}", f"access_token={wrong}", f"x={customer}"):
        status, _ = call(f"{server.url}/api/v1/whoami?{query}")
        assert status == 401
    call(f"{server.url}/enc/{admin}")
    call(f"{server.url}/api/v1/vms/{customer}", headers=bearer)

    # The HTML login form: a wrong token, then the right one.
    jar = CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, page = call(f"{server.url}/login", opener=browser)
    assert status == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, page
    for token in (wrong, admin):
        form = urllib.parse.urlencode({"csrf": csrf.group(1), "token": token}).encode()
        status, _ = call(f"{server.url}/login", "POST", body=form, opener=browser,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert status in (200, 401)
    assert call(f"{server.url}/", opener=browser)[0] == 200
    secrets += [c.value for c in jar]  # the signed session cookie carries the token

    # An install: its secret travels in the installer's URL paths.
    password = "hunter2-Correct-Horse"
    secrets.append(password)
    body = json.dumps(
        {"image": "debian-12", "ssh_keys": [ed25519_key("logs")], "root_password": password}
    ).encode()
    json_headers = {**bearer, "Content-Type": "application/json"}
    url = f"{server.url}/api/v1/vms/{WEB1_UUID}/install"
    status, answer = call(url, "POST", headers=json_headers, body=body)
    assert status == 201, answer
    status, script = call(f"{server.url}/pxe/{WEB1_MAC}?uuid={WEB1_UUID}")
    assert status == 200
    config_url = re.search(r" installimage=(\S+) ", script).group(1)  # type: ignore[union-attr]
    secret = config_url.rsplit("/", 1)[1]
    secrets.append(secret)
    assert call(config_url)[0] == 200
    assert call(f"{config_url}/status", "POST", body=b"phase=x&percent=5")[0] == 200
    assert call(f"{config_url}/nope")[0] == 404
    assert call(config_url.replace(secret, secret[::-1]))[0] == 404

    # A Ceph key (issue 16): stored, then served to a secrets-scoped token; never logged.
    ceph_key = cephx_key()
    secrets.append(ceph_key)
    scoped = {"Authorization": f"Bearer {server.tokens['operator (secrets)']}",
              "Content-Type": "application/json"}  # fmt: skip
    body = json.dumps({"name": "main"}).encode()
    assert call(f"{server.url}/api/v1/ceph-clusters", "POST", scoped, body)[0] == 201
    body = json.dumps({"ceph_cluster": "main", "name": "libvirt", "key": ceph_key}).encode()
    status, answer = call(f"{server.url}/api/v1/ceph-clients", "POST", scoped, body)
    assert status == 201, answer
    bad = json.dumps({"ceph_cluster": "main", "name": "x", "key": "AAAA" + ceph_key[4:]})  # type 0
    assert call(f"{server.url}/api/v1/ceph-clients", "POST", scoped, bad.encode())[0] == 422

    logs = _settled_logs(server)
    assert "/api/v1/whoami" in logs and "/installimage/" in logs  # the logs did record requests
    for value in secrets:
        assert value not in logs, f"secret {value[:6]}… found in the logs"
    assert not re.search(r"va_[A-Za-z0-9_-]{20}", logs)
    assert not re.search(r"/installimage/[^/\s]+/[0-9a-f]{64}", logs)
    # Nor in the change log, which customers and operators read.
    engine = create_engine(server.database_url)
    with engine.connect() as conn:
        changes = json.dumps([list(r) for r in conn.execute(text("SELECT * FROM change"))],
                             default=str)  # fmt: skip
    engine.dispose()
    assert "install" in changes and "api_token" in changes
    for value in [*secrets, hash_token(secret)]:
        assert value not in changes
    assert "$6$" not in changes  # no crypt hash of a root password


def _settled_logs(server: Server) -> str:
    import time

    previous = None
    while True:
        current = server.logs()
        if current == previous:
            return current
        previous = current
        time.sleep(0.3)


def test_log_files_are_where_the_test_looks(server: Server) -> None:
    assert Path(server.access_log).exists() and Path(server.error_log).exists()
