"""Every list page sorts by its columns, filters with its controls and pages (web/lists.py)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from tests.web import test_views as test_web
from tests.web.test_views import page
from virtapi.web import admin, list_specs

signed_in = test_web.signed_in  # the fixture: a client signed in with a role's token

LISTS = {
    "/": list_specs.FLEET_LIST,
    "/vms": list_specs.VM_LIST,
    "/networks": list_specs.NETWORK_LIST,
    "/changes": list_specs.CHANGE_LIST,
    "/vlans": list_specs.VLAN_LIST,
    **{f"/inventory/{path}": admin.list_spec(path) for path in admin.RESOURCES},
}


def _column(html: str, index: int) -> list[str]:
    """The text of cell ``index`` in each body row of the page's (first) table (of its first
    link when it has one: the fleet's cells add the location under the name)."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    rows = [row for row in body.split("</tr>") if "colspan" not in row]  # not "No … yet."
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    out = []
    for row in cells:
        if len(row) > index:
            link = re.search(r"<a [^>]*>(.*?)</a>", row[index], re.S)
            text = link.group(1) if link and index == 0 else row[index]
            out.append(unescape(re.sub(r"<[^>]+>", "", text)).strip())
    return out


def _count(html: str) -> int:
    """The count a list page states above its table ("12 changes", "3 match")."""
    return int(re.search(r'<p class="muted">(\d+) ', html).group(1))


def _api(client: Any, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = client.get(path, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json["results"]


def test_every_list_sorts_by_each_of_its_columns_both_ways(signed_in: Any) -> None:
    client = signed_in("operator")
    for path, spec in LISTS.items():
        sortable = [c.key for c in spec.columns if c.sort is not None]
        assert sortable, path
        html = page(client, path)
        for key in sortable:
            # Each sortable header links to its sort; every sort runs (both databases).
            assert f"sort={key}" in html or spec.default_sort == key, (path, key)
            for sort in (key, f"-{key}"):
                page(client, f"{path}{'&' if '?' in path else '?'}sort={sort}")
        unsortable = next((c for c in spec.columns if c.sort is None), None)
        if unsortable is not None:
            assert f"{unsortable.key!r}" not in page(client, f"{path}?sort={unsortable.key}", 400)


def test_sorted_lists_agree_with_the_api(signed_in: Any, client: Any, api_tokens: Any) -> None:
    web = signed_in("operator")
    op = api_tokens.header(api_tokens.operator)
    vms = _api(client, "/api/v1/vms?limit=1000", op)
    by_ram = sorted(vms, key=lambda v: (-v["ram"], v["hostname"]))
    assert _column(page(web, "/vms?sort=-ram"), 0) == [v["hostname"] for v in by_ram]
    by_host = sorted(vms, key=lambda v: (v["host"]["fqdn"], v["hostname"]))  # all placed
    assert _column(page(web, "/vms?sort=host"), 0) == [v["hostname"] for v in by_host]
    nodes = _api(client, "/api/v1/nodes?limit=1000", op)
    hypervisors = sorted(n["fqdn"] for n in nodes if "hypervisor" in n["roles"])
    html = page(web, "/?role=hypervisor&sort=-fqdn")
    assert _column(html, 0) == sorted(hypervisors, reverse=True)
    assert "sort=fqdn" in html and "role=hypervisor" in html  # header links keep the filter


def test_fleet_filters_by_state_role_and_area(signed_in: Any, client: Any, api_tokens: Any) -> None:
    web = signed_in("operator")
    op = api_tokens.header(api_tokens.operator)
    nodes = _api(client, "/api/v1/nodes?limit=1000", op)
    ceph = [n["fqdn"] for n in nodes if "ceph_osd" in n["roles"]]
    assert sorted(_column(page(web, "/?role=ceph_osd"), 0)) == sorted(ceph)
    running = [n["fqdn"] for n in nodes if n["state"] == "running"]
    assert sorted(_column(page(web, "/?state=running"), 0)) == sorted(running)
    assert _column(page(web, "/?fqdn=HV02"), 0) == ["hv02.dc1.example.com"]
    assert "No nodes" in page(web, "/?area=nowhere")
    error = page(web, "/?role=router", 400)
    assert "Role" in error and "router" in error


def test_networks_filter_by_version_and_vlan(signed_in: Any, client: Any, api_tokens: Any) -> None:
    web = signed_in("operator")
    op = api_tokens.header(api_tokens.operator)
    vlan = _api(client, "/api/v1/vlans?limit=1", op)[0]
    for v in (4, 6):  # one network of each version on the VLAN
        net = _api(client, f"/api/v1/ipv{v}-networks?limit=1", op)[0]
        resp = client.patch(f"/api/v1/ipv{v}-networks/{net['id']}", json={"vlan_id": vlan["id"]},
                            headers=op)  # fmt: skip
        assert resp.status_code == 200, resp.json
    found = 0
    for vlan in _api(client, "/api/v1/vlans?limit=1000", op):
        # Both versions, each by its own vlan_id column.
        expected = sorted(
            n["prefix"]
            for v in (4, 6)
            for n in _api(client, f"/api/v1/ipv{v}-networks?vlan_id={vlan['id']}", op)
        )
        assert sorted(_column(page(web, f"/networks?vlan_id={vlan['id']}"), 0)) == expected
        found += len(expected)
    assert found == 2
    six = _column(page(web, "/networks?version=6"), 0)
    assert six and all(":" in prefix for prefix in six)
    four = _column(page(web, "/networks?version=4&sort=-prefix"), 0)
    assert four and all(":" not in prefix for prefix in four)
    assert four == sorted(four, key=lambda p: tuple(int(x) for x in re.split("[./]", p)))[::-1]
    assert "Version" in page(web, "/networks?version=5", 400)


def test_inventory_lists_filter_with_the_api_filters(
    signed_in: Any, client: Any, api_tokens: Any
) -> None:
    web = signed_in("operator")
    op = api_tokens.header(api_tokens.operator)
    free = _api(client, "/api/v1/ipv4-addresses?free=true&limit=1000", op)
    html = page(web, "/inventory/ipv4-addresses?free=true")
    assert f"{len(free)} match" in html
    assert sorted(_column(html, 1)) == sorted(a["address"] for a in free)
    vlans = _api(client, "/api/v1/vlans?customer_id=1001", op)
    assert f"{len(vlans)} match" in page(web, "/inventory/vlans?customer_id=1001")
    assert "customer id" in page(web, "/inventory/vlans?customer_id=-4", 400)
    nodes = page(web, "/inventory/nodes?state=maintenance")
    assert '<select name="state">' in nodes and '<select name="role">' in nodes
    assert "0 match" in nodes and "<select" not in page(web, "/inventory/images").split("<table")[0]


def test_change_log_filters_sorts_and_pages(signed_in: Any, client: Any, api_tokens: Any) -> None:
    web = signed_in("operator")
    op = api_tokens.header(api_tokens.operator)
    total = client.get("/api/v1/changes?limit=1", headers=op).json["count"]
    assert total > list_specs.CHANGE_LIST.page_size  # the demo fleet fills more than a page
    first = page(web, "/changes?action=create")
    creates = client.get("/api/v1/changes?action=create&limit=1", headers=op).json["count"]
    assert _count(first) == creates
    assert set(_column(first, 2)) == {"create"}
    assert (
        "page=2" in first and "action=create" in first.split('rel="next"')[0].rsplit("href=", 1)[1]
    )
    second = page(web, "/changes?action=create&page=2")
    assert len(_column(first, 2)) + len(_column(second, 2)) == min(creates, 100)
    vm_changes = page(web, "/changes?object_type=vm&sort=at")
    assert _column(vm_changes, 3) and all(c.startswith("vm ") for c in _column(vm_changes, 3))
    # Nothing in the demo was made by a customer; everything by the loader ("system").
    assert _count(page(web, "/changes?actor=customer")) == 0
    assert _count(page(web, "/changes?actor=system&since=2000-01-01")) == total
    assert _count(page(web, "/changes?until=2000-01-01")) == 0
    assert "From" in page(web, "/changes?since=yesterday", 400)


def test_customers_get_only_their_filters_and_columns(signed_in: Any) -> None:
    web = signed_in("customer_a")
    html = page(web, "/vms")
    assert (
        'name="state"' in html and 'name="customer_id"' not in html and 'name="network"' not in html
    )
    assert "c1002" not in page(web, "/vms?customer_id=1002")  # not read for customers
    assert "sort" in page(web, "/vms?sort=customer", 400)
    changes = page(web, "/changes")
    assert 'name="by"' in changes and 'name="actor"' not in changes
    assert "sort=who" not in changes  # staff names are not a sort key for customers
    assert "sort" in page(web, "/changes?sort=who", 400)
    assert _count(page(web, "/changes?by=system")) > 0
    assert _count(page(web, "/changes?by=you")) == 0
    vlans = page(web, "/vlans?sort=-name")
    assert 'name="customer_id"' not in vlans and "c1002" not in vlans and "sort=name" in vlans
    assert "c1002" not in page(web, "/vlans?customer_id=1002")
    for path in ("/", "/networks", "/inventory/nodes"):
        assert page(web, path, 302 if path == "/" else 403)


@pytest.mark.parametrize("path", ["/vms", "/changes", "/", "/networks", "/inventory/nodes"])
def test_lists_say_which_parameter_is_wrong(signed_in: Any, path: str) -> None:
    html = page(signed_in("operator"), f"{path}?sort=nonsense", 400)
    assert "sort by one of" in html and "nonsense" in html
