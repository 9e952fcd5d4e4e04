"""Issue 14's flows in a real Chromium: a customer runs a VM's life through the forms, an operator
adds a hypervisor and a network and migrates a VM; the API confirms each result."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.test_browser import _click, _shot, _sign_in, _text, browser, server  # noqa: F401

pytestmark = pytest.mark.integration
GiB = 1024**3


def _api(app: Any, token: str, path: str) -> Any:
    resp = app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    return resp.json


def _fill(driver: Any, values: dict[str, str], scope: str = "form.form") -> None:
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        field = driver.find_element(By.CSS_SELECTOR, f"{scope} [name='{name}']")
        field.clear()
        field.send_keys(value)


def _submit(driver: Any, css: str) -> None:
    from selenium.webdriver.common.by import By

    _click(driver, driver.find_element(By.CSS_SELECTOR, css))


def test_customer_creates_starts_resizes_and_deletes_a_vm(
    app: Any,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    demo: Any,
) -> None:
    from selenium.webdriver.common.by import By

    token = demo.tokens["customer 1001"]
    _sign_in(browser, server, token)
    _click(browser, browser.find_element(By.LINK_TEXT, "New VM"))
    assert browser.find_element(By.ID, "quota-left-cores").text  # quota left, before submitting
    _fill(browser, {"hostname": "shop.c1001.example.net", "cores": "1", "ram": "2"})
    _fill(browser, {"disks.0.size": "20"})
    _shot(browser, "vm-new")
    _submit(browser, "form.form button.primary")
    assert browser.title == "shop.c1001.example.net · virtapi"
    vm = _api(app, token, "/api/v1/vms?hostname=shop.c1001.example.net")["results"][0]
    assert (vm["cores"], vm["ram"], vm["disks"][0]["size"]) == (1, 2 * GiB, 20 * GiB)

    _submit(browser, "div.actions button[value=start]")
    vm = _api(app, token, f"/api/v1/vms/{vm['id']}")
    assert vm["requested_state"] == "running"

    resize = "form[action$='/resize']"
    _fill(browser, {"cores": "2"}, resize)
    _submit(browser, f"{resize} button")
    assert _api(app, token, f"/api/v1/vms/{vm['id']}")["cores"] == 2
    # Beyond the quota: the service's message next to the field, the typed value kept.
    _fill(browser, {"cores": "500"}, resize)
    _submit(browser, f"{resize} button")
    error = browser.find_element(By.CSS_SELECTOR, f"{resize} .has-error .field-error").text
    assert "would use" in error
    assert (
        browser.find_element(By.CSS_SELECTOR, f"{resize} [name=cores]").get_attribute("value")
        == "500"
    )
    assert _api(app, token, f"/api/v1/vms/{vm['id']}")["cores"] == 2
    _shot(browser, "vm-quota-error")

    browser.find_element(By.CSS_SELECTOR, "form.danger [name=confirm]").click()
    _submit(browser, "form.danger button")
    assert browser.current_url == f"{server}/vms"
    assert _api(app, token, "/api/v1/vms?hostname=shop.c1001.example.net")["count"] == 0


def operator_at_1280(driver: Any, base: str, demo: Any) -> str:
    """Sign in as the demo admin in a 1,280 px wide window; the token, for the API checks."""
    token = demo.tokens["admin"]
    driver.set_window_size(1280, 900)
    _sign_in(driver, base, token)
    return token


def test_operator_adds_a_hypervisor_and_a_network_and_migrates_a_vm(
    app: Any,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    demo: Any,
) -> None:
    from selenium.webdriver.common.by import By

    token = operator_at_1280(browser, server, demo)
    # The fleet fits 1,280 px: nothing scrolls sideways.
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1280, width

    browser.get(f"{server}/inventory/nodes")
    _fill(browser, {"fqdn": "hv04.dc1.example.com", "area": "b"})
    _submit(browser, "form.form button.primary")
    node = _api(app, token, "/api/v1/nodes?fqdn=hv04.dc1.example.com")["results"][0]
    browser.get(f"{server}/inventory/virt-nodes")
    _fill(browser, {"node_id": str(node["id"]), "cores": "64", "ram": str(256 * GiB)})
    _fill(browser, {"methods": "kvm", "local_storage_gb": "500"})
    _submit(browser, "form.form button.primary")
    hv = _api(app, token, f"/api/v1/virt-nodes?node_id={node['id']}")["results"][0]
    assert hv["cores"] == 64 and [m["name"] for m in hv["methods"]] == ["kvm"]

    browser.get(f"{server}/inventory/ipv4-networks")
    _fill(browser, {"prefix": "203.0.113.0/24", "gateway": "203.0.113.1"})
    _submit(browser, "form.form button.primary")
    assert _api(app, token, "/api/v1/ipv4-networks?prefix=203.0.113.0/24")["count"] == 1
    _shot(browser, "inventory-networks")

    vm = _api(app, token, "/api/v1/vms?hostname=web1.c1001.example.net")["results"][0]
    browser.get(f"{server}/vms/{vm['uuid']}")
    migrate = "form[action$='/migrate']"
    _fill(browser, {"hypervisor": "hv04.dc1.example.com"}, migrate)
    _submit(browser, f"{migrate} button")
    assert "hv04.dc1.example.com" in _text(browser)
    moved = _api(app, token, f"/api/v1/vms/{vm['id']}")
    assert moved["host"]["fqdn"] == "hv04.dc1.example.com"

    # The API docs render offline: Swagger UI from our own server.
    browser.get(f"{server}/api/v1/docs")
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title")
    )
    assert "virtapi" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
