"""Storage and drift pages in a real Chromium (issue 14): a customer requests a snapshot and sees
it listed; an operator adds a Ceph cluster and a client and sorts the drift list; the API
confirms each result."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.test_browser import _click, _shot, _sign_in, _text, browser, server  # noqa: F401
from tests.web.test_browser_flows import _api, _fill, _submit, operator_at_1280
from tests.web.test_browser_lists import _choose, _column, _filter, _header

pytestmark = pytest.mark.integration
FSID = "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11"


def test_customer_requests_a_snapshot_and_sees_it_listed(
    app: Any,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    demo: Any,
) -> None:
    from selenium.webdriver.common.by import By

    token = demo.tokens["customer 1001"]
    vm = _api(app, token, "/api/v1/vms?hostname=web1.c1001.example.net")["results"][0]
    disk = _api(app, token, f"/api/v1/storage?vm_id={vm['id']}")["results"][0]["id"]
    _sign_in(browser, server, token)
    _click(browser, browser.find_element(By.LINK_TEXT, "Backups"))
    _click(browser, browser.find_element(By.LINK_TEXT, "Snapshots"))
    _fill(browser, {"storage_id": str(disk), "name": "before-upgrade"})
    _submit(browser, "form.form button.primary")
    (snap,) = _api(app, token, "/api/v1/snapshots")["results"]
    assert (snap["name"], snap["storage_id"], snap["requested_state"]) == (
        "before-upgrade",
        disk,
        "present",
    )
    assert "before-upgrade" in _column(browser, 5)
    # A bad name: the API's message next to the field, the typed value kept, nothing stored.
    _fill(browser, {"storage_id": str(disk), "name": "Has Space"})
    _submit(browser, "form.form button.primary")
    field = browser.find_element(By.CSS_SELECTOR, "form.form .has-error [name=name]")
    assert field.get_attribute("value") == "Has Space"
    assert _api(app, token, "/api/v1/snapshots")["count"] == 1
    _shot(browser, "snapshots")


def test_operator_adds_a_ceph_cluster_and_client_and_sorts_drift(
    app: Any,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    demo: Any,
) -> None:
    from selenium.webdriver.common.by import By

    token = operator_at_1280(browser, server, demo)
    browser.get(f"{server}/inventory/ceph-clusters")
    _fill(browser, {"name": "main", "fsid": FSID, "public_network": "10.20.0.0/24"})
    _submit(browser, "form.form button.primary")
    (cluster,) = _api(app, token, "/api/v1/ceph-clusters")["results"]
    assert (cluster["fsid"], cluster["public_network"]) == (FSID, "10.20.0.0/24")

    browser.get(f"{server}/inventory/ceph-clients")
    assert (
        browser.find_element(By.CSS_SELECTOR, "form.form [name=key]").get_attribute("type")
        == "password"
    )
    _fill(browser, {"ceph_cluster": "main", "name": "libvirt", "caps": "mon 'profile rbd'"})
    _submit(browser, "form.form button.primary")
    (client,) = _api(app, token, "/api/v1/ceph-clients")["results"]
    assert (client["name"], client["ceph_cluster"], client["has_key"]) == (
        "client.libvirt",
        "main",
        False,
    )
    assert "client.libvirt" in _text(browser)
    _shot(browser, "ceph-clients")

    # Drift: never-reported nodes only, sorted by host name descending; the API agrees.
    browser.get(f"{server}/drift")
    _choose(browser, "state", "never reported")
    _choose(browser, "kind", "node")
    _filter(browser)
    _header(browser, "Host")
    _header(browser, "Host")
    assert "sort=-certname" in browser.current_url
    hosts = _api(
        app, token, "/api/v1/drift?state=never+reported&kind=node&sort=-certname&limit=1000"
    )["hosts"]
    assert hosts["count"] > 0
    rows = browser.find_elements(By.CSS_SELECTOR, "table.drift tbody tr td:first-child")
    shown = [cell.text for cell in rows]
    assert shown == [h["certname"] for h in hosts["results"]]
    _shot(browser, "drift")
