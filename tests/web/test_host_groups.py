"""Host groups in the HTML pages (issue 18): list, detail form with JSON classes and data,
the node page's explain table; customers see none of it."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from tests.web import test_views as test_web
from tests.web.test_forms import post
from tests.web.test_views import page

signed_in = test_web.signed_in

HV1 = "hv01.dc1.example.com"


def test_operator_creates_and_edits_a_group_and_sees_it_on_the_node_page(
    signed_in: Any,
) -> None:
    client = signed_in("operator")
    made = post(
        client,
        "/inventory/host-groups",
        {
            "name": "monitoring",
            "members": HV1,
            "classes": '{"profile::motd": {"message": "watched"}}',
            "data": '{"ntp::servers": ["ntp1"]}',
        },
    )
    assert made.status_code in (200, 303), made.text[:2000]
    listing = page(client, "/inventory/host-groups")
    assert "monitoring" in listing and "profile::motd" in listing
    key = re.search(r'href="/inventory/host-groups/(\d+)"', listing).group(1)
    detail = unescape(page(client, f"/inventory/host-groups/{key}"))
    assert '"message": "watched"' in detail and HV1 in detail
    # Bad JSON and bad keys come back next to the field, as the API words them.
    bad = post(
        client,
        f"/inventory/host-groups/{key}",
        {"data": '{"Bad": 1}', "etag": ""},
        referer=f"/inventory/host-groups/{key}",
    )
    assert "Hiera key" in unescape(bad.text)
    fleet = page(client, "/")
    node_id = re.search(r'href="/nodes/(\d+)">hv01\.', fleet).group(1)
    node = unescape(page(client, f"/nodes/{node_id}"))
    assert "Configuration data" in node and "group monitoring (depth 0)" in node
    assert '★ group monitoring (depth 0): <span class="mono">"watched"' in node


def test_customers_get_no_group_pages(signed_in: Any) -> None:
    client = signed_in("customer_a")
    assert client.get("/inventory/host-groups").status_code in (403, 404)
