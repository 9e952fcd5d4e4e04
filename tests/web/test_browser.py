"""The HTML pages in a real headless Chromium against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)

pytestmark = pytest.mark.integration


@pytest.fixture
def server(app: Any, demo: Any) -> Iterator[str]:
    """The app with the demo fleet, served over real HTTP on a free loopback port."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        skip_or_fail(
            "chromium and chromium-driver are not installed "
            "(apt-get install chromium chromium-driver)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip_or_fail("selenium is not installed")
    profile = tempfile.mkdtemp(prefix="virtapi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _shot(driver: Any, name: str) -> None:
    """Screenshots for a person checking the looks; only when asked for, never committed."""
    target = os.environ.get("VIRTAPI_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / f"{name}.png"))


def _click(driver: Any, element: Any) -> None:
    """Click something that loads a new page, and wait until the new page is there.

    The old page is marked before the click and the wait ends when a fully loaded page without
    the mark is shown. Waiting for an element to go stale instead races with the navigation: under
    load chromedriver answers "Node with given id does not belong to the document", a plain
    WebDriverException that staleness_of does not expect.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    mark = uuid.uuid4().hex
    driver.execute_script(
        "document.documentElement.setAttribute('data-test-left', arguments[0])", mark
    )
    element.click()

    def arrived(d: Any) -> bool:
        return bool(
            d.execute_script(
                "return document.readyState === 'complete'"
                " && !document.documentElement.hasAttribute('data-test-left')"
            )
        )

    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(arrived)


def _sign_in(driver: Any, base: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    field = driver.find_element(By.ID, "token")
    field.send_keys(token)
    _click(driver, driver.find_element(By.CSS_SELECTOR, "section.login button[type=submit]"))


def _text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def test_a_person_signs_in_and_reads_fleet_and_vm_pages(
    server: str, browser: Any, demo: Any
) -> None:
    from selenium.webdriver.common.by import By

    # A bad token: the form says so and nobody gets in.
    _sign_in(browser, server, "va_not-a-token")
    assert "That token is not valid" in _text(browser)
    browser.get(f"{server}/")
    assert browser.current_url.startswith(f"{server}/login")

    # An admin lands on the fleet overview with every node and what its VMs commit.
    _sign_in(browser, server, demo.tokens["admin"])
    assert browser.current_url == f"{server}/"
    assert browser.title == "Fleet · virtapi"
    text = _text(browser)
    for node in ("hv01", "hv02", "hv03", "ceph01", "ceph02", "ceph03"):
        assert f"{node}.dc1.example.com" in text
    hv01 = browser.find_element(By.XPATH, "//tr[td/a[text()='hv01.dc1.example.com']]").text
    assert "6 / 32 cores" in hv01 and "20 GiB / 128 GiB" in hv01 and "hypervisor" in hv01
    # The stylesheet loaded (the CSP allows it): the header bar is dark, not the default white.
    header = browser.find_element(By.CSS_SELECTOR, "header.top")
    assert header.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    _shot(browser, "fleet")

    # Follow the links as a person would: node page, then one of its VMs.
    _click(browser, browser.find_element(By.LINK_TEXT, "hv01.dc1.example.com"))
    assert "VMs on this node (2)" in _text(browser)
    _shot(browser, "node")
    _click(browser, browser.find_element(By.LINK_TEXT, "db1.c1001.example.net"))
    text = _text(browser)
    assert browser.title == "db1.c1001.example.net · virtapi"
    assert "hv01.dc1.example.com" in text and "198.51.100.12/24" in text
    assert "backend (VNI 10001)" in text and "2000 IOPS" in text and "vms-ssd" in text
    _shot(browser, "vm")
    browser.get(f"{server}/networks")
    assert "198.51.100.0/24" in _text(browser)
    _shot(browser, "networks")
    browser.get(f"{server}/changes")
    _shot(browser, "changes")

    # Sign out with the button; the pages are closed again.
    _click(browser, browser.find_element(By.CSS_SELECTOR, "form.who button"))
    assert "You are signed out" in _text(browser)
    browser.get(f"{server}/vms")
    assert browser.current_url.startswith(f"{server}/login")


def test_a_customer_sees_only_their_own_vms(server: str, browser: Any, demo: Any) -> None:
    _sign_in(browser, server, demo.tokens["customer 1002"])
    assert browser.current_url == f"{server}/vms"  # no fleet for customers
    text = _text(browser)
    assert "My VMs" in text and "2 VMs" in text
    assert "app1.c1002.example.net" in text and "app2.c1002.example.net" in text
    assert "c1001" not in text and "Fleet" not in text
    _shot(browser, "customer-vms")
    web1 = uuid.uuid5(uuid.NAMESPACE_DNS, "web1.c1001.example.net")
    browser.get(f"{server}/vms/{web1}")
    text = _text(browser)
    assert "404" in text and "Not found" in text and "web1" not in text
    browser.get(f"{server}/networks")
    assert "403" in _text(browser)
