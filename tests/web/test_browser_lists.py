"""Sorting and filtering lists in a real Chromium (issue 14): the fleet and the change log, by
clicking headers and submitting the filter form; the API says what the result must be."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.test_browser import _click, _shot, browser, server  # noqa: F401
from tests.web.test_browser_flows import _api, operator_at_1280

pytestmark = pytest.mark.integration


def _first_column(driver: Any) -> list[str]:
    """The first link of each row's first cell (the node's name, without its location)."""
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, "table.grid tbody tr td:first-child a")
    return [cell.text for cell in cells]


def _column(driver: Any, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "table.grid tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows]


def _choose(driver: Any, name: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.CSS_SELECTOR, f"form.filters [name='{name}']")).select_by_value(
        value
    )


def _filter(driver: Any) -> None:
    from selenium.webdriver.common.by import By

    _click(driver, driver.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]"))


def _header(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By

    link = driver.find_element(
        By.XPATH, f"//table//thead//a[starts-with(normalize-space(), '{label}')]"
    )
    _click(driver, link)


def test_operator_sorts_and_filters_the_fleet_and_the_change_log(
    app: Any,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
    demo: Any,
) -> None:
    token = operator_at_1280(browser, server, demo)
    nodes = _api(app, token, "/api/v1/nodes?limit=1000")["results"]

    # Fleet: by name ascending, then a click on the sorted header turns it round.
    assert _first_column(browser) == sorted(n["fqdn"] for n in nodes)
    _header(browser, "Node")
    assert "sort=-fqdn" in browser.current_url
    assert _first_column(browser) == sorted((n["fqdn"] for n in nodes), reverse=True)
    # The role filter keeps the sort and shows what the API's own filter returns.
    _choose(browser, "role", "hypervisor")
    _filter(browser)
    hypervisors = _api(app, token, "/api/v1/nodes?role=hypervisor&limit=1000")["results"]
    assert _first_column(browser) == sorted((n["fqdn"] for n in hypervisors), reverse=True)
    assert "role=hypervisor" in browser.current_url and "sort=-fqdn" in browser.current_url
    _shot(browser, "fleet-filtered")
    # Sorting by state keeps the filter; equal states fall back to the name.
    _header(browser, "State")
    expected = sorted(hypervisors, key=lambda n: (n["state"], n["fqdn"]))
    assert _first_column(browser) == [n["fqdn"] for n in expected]
    assert "role=hypervisor" in browser.current_url

    # Change log: object type and action from the selects, newest first, like the API's ids.
    browser.get(f"{server}/changes")
    _choose(browser, "object_type", "vm")
    _choose(browser, "action", "create")
    _filter(browser)
    created = _api(app, token, "/api/v1/changes?object_type=vm&action=create&limit=1000")
    assert created["count"] > 1
    newest_first = sorted(created["results"], key=lambda c: c["id"], reverse=True)
    labels = [c["after"]["hostname"] for c in newest_first]
    assert [o.removeprefix("vm ").split()[0] for o in _column(browser, 3)] == labels
    assert set(_column(browser, 2)) == {"create"}
    _shot(browser, "changes-filtered")
    # Oldest first by clicking "When" (sorted descending now), filters kept.
    _header(browser, "When")
    assert [o.removeprefix("vm ").split()[0] for o in _column(browser, 3)] == labels[::-1]
    # A date range that ends before anything happened: nothing, and the count says so.
    from selenium.webdriver.common.by import By

    until = browser.find_element(By.CSS_SELECTOR, "form.filters [name='until']")
    browser.execute_script("arguments[0].value = '2001-01-01'", until)
    _filter(browser)
    assert "0 changes" in browser.find_element(By.CSS_SELECTOR, "main p.muted").text
    assert "object_type=vm" in browser.current_url and "until=2001-01-01" in browser.current_url
