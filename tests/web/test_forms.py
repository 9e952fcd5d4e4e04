"""Forms on the HTML pages: the same rules as the API, errors next to the field, CSRF, ETags."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from tests.web import test_views as test_web
from tests.web.test_views import VMS_A, csrf_of, page, vm_uuid

signed_in = test_web.signed_in  # the fixture: a client signed in with a role's token

GiB = 1024**3


def post(client: Any, path: str, data: dict[str, Any], referer: str | None = None) -> Any:
    """Post a form the way a browser does: with the CSRF token from the page it is on."""
    html = page(client, referer or path)
    return client.post(path, data={"csrf": csrf_of(html), **data})


def api(app: Any, api_tokens: Any, path: str, token: str | None = None) -> Any:
    return app.test_client().get(path, headers=api_tokens.header(token or api_tokens.operator))


def new_vm(client: Any, **fields: Any) -> Any:
    form = {
        "hostname": "form1.c1001.example.net",
        "cores": "1",
        "ram": "1",
        "disks.0.size": "5",
        "disks.0.storage_type": "qcow2",
        "disks.0.cache_option": "default",
        "interfaces.0.enabled": "1",
        **fields,
    }
    return post(client, "/vms/new", form)


def field_error(html: str, name: str) -> str:
    """The message shown inside the label of field ``name``."""
    match = re.search(
        r'<label class="field has-error"><span>[^<]*</span>\s*<input[^>]*name="'
        + re.escape(name)
        + r'"[^>]*>\s*<span class="field-error"[^>]*>([^<]+)</span>',
        html,
    )
    assert match, f"no error next to {name}"
    return match.group(1)


def test_customer_creates_a_vm_through_the_form(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("customer_a")
    html = page(client, "/vms/new")
    assert 'id="quota-left-cores"' in html  # the quota left is shown before submitting
    images = api(app, api_tokens, "/api/v1/images?name=debian-12", api_tokens.customer_a).json
    resp = new_vm(client, start="1", image=images["results"][0]["name"])
    assert resp.status_code == 303, resp.text[:2000]
    vm_page = resp.headers["Location"]
    uuid = vm_page.rsplit("/", 1)[1]
    got = api(app, api_tokens, f"/api/v1/vms?uuid={uuid}", api_tokens.customer_a).json
    vm = got["results"][0]
    assert vm["hostname"] == "form1.c1001.example.net" and vm["customer_id"] == 1001
    assert vm["ram"] == GiB and [d["size"] for d in vm["disks"]] == [5 * GiB]
    # Started with an image: it boots into the installer first (the API's install rules).
    assert len(vm["interfaces"]) == 1 and vm["requested_state"] == "rebooting"
    html = page(client, vm_page)
    assert "form1.c1001.example.net" in html and "debian-12 · pending" in html  # first install


def test_reinstall_from_the_vm_page(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("customer_a")
    web1 = vm_uuid(VMS_A[0])
    path = f"/vms/{web1}"
    resp = post(client, f"{path}/reinstall", {"image": ""}, path)
    assert resp.status_code == 422 and "choose an image" in resp.text
    assert post(client, f"{path}/reinstall", {"image": "debian-12"}, path).status_code == 303
    install = api(app, api_tokens, f"/api/v1/vms/{web1}/install", api_tokens.customer_a).json
    assert install["state"] == "pending"
    assert "debian-12 · pending" in page(client, path)
    # While it is pending, a second request is refused with the service's reason.
    resp = post(client, f"{path}/reinstall", {"image": "debian-12"}, path)
    assert resp.status_code == 422 and "pending" in resp.text


def test_operator_creates_a_vm_with_an_address(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("operator")
    html = page(client, "/vms/new")
    network = re.search(r'name="interfaces.0.ipv4">.*?<option value="(\d+)">', html, re.S).group(1)
    resp = new_vm(client, customer_id="1002", **{"interfaces.0.ipv4": network})
    assert resp.status_code == 303, resp.text[:3000]
    vm = api(app, api_tokens, "/api/v1/vms?hostname=form1.c1001.example.net").json["results"][0]
    assert vm["customer_id"] == 1002 and len(vm["interfaces"][0]["ipv4_addresses"]) == 1


def test_create_errors_appear_next_to_the_field_with_the_input_kept(signed_in: Any) -> None:
    client = signed_in("customer_a")
    resp = new_vm(client, cores="lots")
    assert resp.status_code == 422
    assert "integer" in field_error(resp.text, "cores").lower()
    assert 'value="form1.c1001.example.net"' in resp.text  # the input is kept
    # The quota rule is the service's: the same message the API gives, next to the field.
    resp = new_vm(client, cores="4000")
    assert resp.status_code == 422
    assert "quota" in resp.text and "would use" in field_error(resp.text, "cores")
    assert 'value="4000"' in resp.text
    # A duplicate hostname is refused as in the API.
    resp = new_vm(client, hostname=VMS_A[0])
    assert resp.status_code == 422 and VMS_A[0] in resp.text


def test_forms_need_the_csrf_token(signed_in: Any, app: Any, api_tokens: Any) -> None:
    client = signed_in("customer_a")
    web1 = vm_uuid(VMS_A[0])
    resp = client.post(f"/vms/{web1}/action", data={"action": "stop", "csrf": "forged"})
    assert resp.status_code == 400
    resp = client.post("/vms/new", data={"hostname": "x.example.net", "cores": "1", "ram": "1"})
    assert resp.status_code == 400
    assert api(app, api_tokens, "/api/v1/vms?hostname=x.example.net").json["count"] == 0


def test_start_stop_resize_and_delete(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("customer_a")
    web1 = vm_uuid(VMS_A[0])
    path = f"/vms/{web1}"

    def state() -> dict[str, Any]:
        return api(app, api_tokens, f"/api/v1/vms?uuid={web1}").json["results"][0]

    assert post(client, f"{path}/action", {"action": "stop"}, path).status_code == 303
    assert state()["requested_state"] == "stopped"
    # An action the state machine refuses answers with the service's reason, nothing changes.
    resp = post(client, f"{path}/action", {"action": "stop"}, path)
    assert resp.status_code == 422 and "stop is already requested" in resp.text
    assert state()["requested_state"] == "stopped"
    html = page(client, path)
    etag = unescape(re.search(r'name="etag" value="([^"]+)"', html).group(1))
    resp = client.post(
        f"{path}/resize", data={"csrf": csrf_of(html), "etag": etag, "cores": "2", "ram": "1.5"}
    )
    assert resp.status_code == 303
    assert (state()["cores"], state()["ram"]) == (2, int(1.5 * GiB))
    # The same form again is stale: nothing is overwritten, the current values are shown.
    resp = client.post(
        f"{path}/resize", data={"csrf": csrf_of(html), "etag": etag, "cores": "3", "ram": "1"}
    )
    assert resp.status_code == 409 and "nothing was saved" in resp.text
    assert 'name="cores" value="2"' in resp.text and 'name="ram" value="1.5"' in resp.text
    assert state()["cores"] == 2
    # Delete asks for confirmation first.
    resp = post(client, f"{path}/action", {"action": "delete"}, path)
    assert resp.status_code == 422 and "Tick the box" in resp.text
    resp = post(client, f"{path}/action", {"action": "delete", "confirm": "yes"}, path)
    assert resp.status_code == 303 and resp.headers["Location"] == "/vms"
    assert api(app, api_tokens, f"/api/v1/vms?uuid={web1}").json["count"] == 0


def test_disks_interfaces_and_vlans(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("customer_a")
    web1 = vm_uuid(VMS_A[0])
    path = f"/vms/{web1}"

    def vm() -> dict[str, Any]:
        return api(app, api_tokens, f"/api/v1/vms?uuid={web1}").json["results"][0]

    disks, ifaces = len(vm()["disks"]), len(vm()["interfaces"])
    form = {"size": "3", "storage_type": "qcow2", "cache_option": "none"}
    assert post(client, f"{path}/disks", form, path).status_code == 303
    added = vm()["disks"][-1]
    assert len(vm()["disks"]) == disks + 1 and added["size"] == 3 * GiB
    resp = post(client, f"{path}/disks", {**form, "size": "0"}, path)
    assert resp.status_code == 422 and field_error(resp.text, "size")
    assert post(client, f"{path}/disks/{added['id']}/delete", {}, path).status_code == 303
    assert len(vm()["disks"]) == disks

    # A VLAN of their own, then an interface in it.
    resp = post(client, "/vlans", {"name": "backend-net", "description": "db traffic"})
    assert resp.status_code == 303
    vlans = api(app, api_tokens, "/api/v1/vlans?name=backend-net", api_tokens.customer_a).json
    vlan = vlans["results"][0]
    assert vlan["customer_id"] == 1001
    assert "backend-net" not in page(signed_in("customer_b"), "/vlans")
    resp = post(client, f"{path}/interfaces", {"vlans": str(vlan["id"])}, path)
    assert resp.status_code == 303
    new = vm()["interfaces"][-1]
    assert len(vm()["interfaces"]) == ifaces + 1 and [v["id"] for v in new["vlans"]] == [vlan["id"]]
    assert post(client, f"{path}/interfaces/{new['id']}/delete", {}, path).status_code == 303
    assert len(vm()["interfaces"]) == ifaces
    assert post(client, f"/vlans/{vlan['id']}/delete", {}, "/vlans").status_code == 303
    assert api(app, api_tokens, "/api/v1/vlans?name=backend-net").json["count"] == 0
    # Another customer's VLAN is missing for them, exactly as in the API.
    other = signed_in("customer_b")
    assert post(other, f"/vlans/{vlan['id']}/delete", {}, "/vlans").status_code == 422


def test_reader_gets_no_forms_and_cannot_post(signed_in: Any, app: Any, api_tokens: Any) -> None:
    client = signed_in("reader")
    web1 = vm_uuid(VMS_A[0])
    html = page(client, f"/vms/{web1}")
    assert "/resize" not in html and "New VM" not in page(client, "/vms")
    resp = client.post(f"/vms/{web1}/action", data={"csrf": csrf_of(html), "action": "stop"})
    assert resp.status_code == 422 and "may not change" in resp.text
    assert (
        api(app, api_tokens, f"/api/v1/vms?uuid={web1}").json["results"][0]["requested_state"]
        == "running"
    )


# --- search and lists ---------------------------------------------------------------------------


def test_search_box_jumps_to_the_object(app: Any, signed_in: Any, api_tokens: Any) -> None:
    staff = signed_in("operator")
    web3 = api(app, api_tokens, f"/api/v1/vms?uuid={vm_uuid(VMS_A[2])}").json["results"][0]
    mac = web3["interfaces"][0]["mac"]
    address = web3["interfaces"][0]["ipv4_addresses"][0]
    target = f"/vms/{web3['uuid']}"
    for typed in (VMS_A[2], VMS_A[2].upper(), web3["uuid"], mac, mac.replace(":", "-"), address):
        resp = staff.get("/search", query_string={"q": typed})
        assert (resp.status_code, resp.headers["Location"]) == (302, target), typed
    node = staff.get("/search", query_string={"q": "hv01.dc1.example.com"}).headers["Location"]
    assert node.startswith("/nodes/")
    vni = api(app, api_tokens, "/api/v1/vlans?customer_id=1001").json["results"][0]["vni"]
    assert staff.get(f"/search?q={vni}").headers["Location"] == f"/vlans?vni={vni}"
    assert str(vni) in page(staff, f"/vlans?vni={vni}")
    # Part of a name: the VM list narrowed to it.
    html = page(staff, staff.get("/search?q=c1001").headers["Location"])
    assert VMS_A[0] in html and "app1.c1002" not in html
    # Customers find only their own things; another customer's VM is not found.
    other = signed_in("customer_b")
    for typed in (VMS_A[2], web3["uuid"], mac, address, str(vni), "hv01.dc1.example.com"):
        location = other.get("/search", query_string={"q": typed}).headers["Location"]
        assert not location.startswith(("/vms/", "/nodes/", "/vlans")), typed
        assert f'href="/vms/{web3["uuid"]}"' not in page(other, location)


def test_vm_list_sorts_and_filters_with_the_api_filters(signed_in: Any) -> None:
    staff = signed_in("operator")
    html = page(staff, "/vms?sort=-hostname")
    names = re.findall(r'href="/vms/[0-9a-f-]{36}">([^<]+)<', html)
    assert names == sorted(names, reverse=True) and len(names) == 5
    html = page(staff, "/vms?sort=hostname&customer_id=1002")
    assert re.findall(r'href="/vms/[0-9a-f-]{36}">([^<]+)<', html) == sorted(
        ["app1.c1002.example.net", "app2.c1002.example.net"]
    )
    assert 'href="/vms?customer_id=1002&amp;sort=-hostname"' in html  # headers keep filters
    html = page(staff, "/vms?hypervisor=hv01.dc1.example.com")
    assert "hv01.dc1.example.com" in html and "hv02.dc1.example.com</a></td>" not in html
    stopped = page(staff, "/vms?state=stopped")
    running = page(staff, "/vms?state=running")
    assert "state-running" not in stopped and "state-stopped" not in running
    count = lambda html: int(re.search(r"(\d+) VMs?<", html).group(1))  # noqa: E731
    assert count(stopped) + count(running) <= 5 and count(running) >= 1
    page(staff, "/vms?sort=secret", 400)
    page(staff, "/vms?network=x", 400)
    # A customer's filter controls cannot reach beyond their own VMs.
    customer = signed_in("customer_b")
    html = page(customer, "/vms?customer_id=1001&hypervisor=hv01.dc1.example.com")
    assert "web1.c1001" not in html and 'name="customer_id"' not in html


# --- change log ---------------------------------------------------------------------------------


def test_change_log_shows_names_links_and_hides_staff_from_customers(
    app: Any, signed_in: Any, api_tokens: Any
) -> None:
    web1 = vm_uuid(VMS_A[0])
    client = signed_in("customer_a")
    assert (
        post(client, f"/vms/{web1}/action", {"action": "stop"}, f"/vms/{web1}").status_code == 303
    )
    # An operator moves it to a state by hand: a staff change the customer sees anonymously.
    staff = app.test_client()
    vm_id = api(app, api_tokens, f"/api/v1/vms?uuid={web1}").json["results"][0]["id"]
    resp = staff.patch(
        f"/api/v1/vms/{vm_id}",
        json={"cputime_limit": 50},
        headers=api_tokens.header(api_tokens.operator),
    )
    assert resp.status_code == 200, resp.json
    html = page(client, f"/changes?object_type=vm&object_id={vm_id}")
    assert re.search(r"requested state</span> running → stopped", html), html
    assert "requested_state_id" not in html
    assert f'<a href="/vms/{web1}">{VMS_A[0]}</a>' in html  # the object itself, by name
    assert "<td>you</td>" in html and "<td>operator</td>" in html
    assert "token:" not in html.split("<main>")[1]  # no token ids or names of staff
    # Staff see who it was (the token's name).
    staff_html = page(signed_in("operator"), f"/changes?object_type=vm&object_id={vm_id}")
    assert re.search(r"<td>token:\d+:customer_a</td>", staff_html)
    assert re.search(r"<td>token:\d+:operator</td>", staff_html)


# --- operator forms -----------------------------------------------------------------------------


def test_operator_adds_a_hypervisor_and_a_network(
    app: Any, signed_in: Any, api_tokens: Any
) -> None:
    client = signed_in("operator")
    assert "Inventory" in page(client, "/")
    resp = post(client, "/inventory/nodes", {"fqdn": "hv09.dc1.example.com", "area": "a"})
    assert resp.status_code == 303, resp.text[:3000]
    node = api(app, api_tokens, "/api/v1/nodes?fqdn=hv09.dc1.example.com").json["results"][0]
    form = {
        "node_id": str(node["id"]),
        "cores": "32",
        "ram": str(128 * GiB),
        "methods": "kvm, qemu",
    }
    resp = post(client, "/inventory/virt-nodes", form)
    assert resp.status_code == 303, resp.text[:3000]
    hv = api(app, api_tokens, f"/api/v1/virt-nodes?node_id={node['id']}").json["results"][0]
    assert sorted(m["name"] for m in hv["methods"]) == ["kvm", "qemu"] and hv["cores"] == 32
    # The API's rules, next to the field, input kept: a bad prefix, then a duplicate fqdn.
    resp = post(client, "/inventory/ipv4-networks", {"prefix": "10.99.0.1/24"})
    assert resp.status_code == 422 and 'value="10.99.0.1/24"' in resp.text
    assert "host bits" in resp.text or "network" in resp.text
    resp = post(client, "/inventory/nodes", {"fqdn": "hv09.dc1.example.com"})
    assert resp.status_code == 422
    resp = post(
        client, "/inventory/ipv4-networks", {"prefix": "10.99.0.0/24", "gateway": "10.99.0.1"}
    )
    assert resp.status_code == 303, resp.text[:3000]
    assert api(app, api_tokens, "/api/v1/ipv4-networks?prefix=10.99.0.0/24").json["count"] == 1
    # Customers and readers get no inventory forms.
    page(signed_in("customer_a"), "/inventory/nodes", 403)
    page(signed_in("reader"), "/inventory", 403)


def test_inventory_edit_is_etag_guarded(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("operator")
    node = api(app, api_tokens, "/api/v1/nodes?fqdn=hv01.dc1.example.com").json["results"][0]
    path = f"/inventory/nodes/{node['id']}"
    html = page(client, path)
    etag = unescape(re.search(r'name="etag" value="([^"]+)"', html).group(1))
    data = {"csrf": csrf_of(html), "etag": etag, "location": "rack 7"}
    assert client.post(path, data=data).status_code == 303
    assert api(app, api_tokens, f"/api/v1/nodes/{node['id']}").json["location"] == "rack 7"
    resp = client.post(path, data={**data, "location": "rack 9"})
    assert resp.status_code == 409 and "nothing was saved" in resp.text
    assert 'value="rack 7"' in resp.text  # the current value, not the stale input
    assert api(app, api_tokens, f"/api/v1/nodes/{node['id']}").json["location"] == "rack 7"


def test_maintenance_and_migration(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("operator")
    hv1 = api(app, api_tokens, "/api/v1/nodes?fqdn=hv01.dc1.example.com").json["results"][0]
    node_page = f"/nodes/{hv1['id']}"
    resp = post(client, f"/nodes/{hv1['id']}/state", {"state": "maintenance"}, node_page)
    assert resp.status_code == 303
    assert api(app, api_tokens, f"/api/v1/nodes/{hv1['id']}").json["state"] == "maintenance"
    assert "End maintenance" in page(client, node_page)
    on_hv1 = api(app, api_tokens, "/api/v1/vms?hypervisor=hv01.dc1.example.com").json["results"]
    vm = on_hv1[0]
    vm_page = f"/vms/{vm['uuid']}"
    # Onto the node in maintenance: refused with placement's reason.
    resp = post(client, f"{vm_page}/migrate", {"hypervisor": "hv01.dc1.example.com"}, vm_page)
    assert resp.status_code == 422
    resp = post(client, f"{vm_page}/migrate", {"hypervisor": "hv02.dc1.example.com"}, vm_page)
    assert resp.status_code == 303, resp.text[:3000]
    moved = api(app, api_tokens, f"/api/v1/vms/{vm['id']}").json
    assert moved["host"]["fqdn"] == "hv02.dc1.example.com"
    # Customers cannot migrate.
    customer = signed_in("customer_a") if vm["customer_id"] == 1001 else signed_in("customer_b")
    assert "/migrate" not in page(customer, vm_page)


def test_sizes_are_typed_with_units_and_shown_in_binary_units(
    app: Any, signed_in: Any, api_tokens: Any
) -> None:
    client = signed_in("customer_a")
    resp = new_vm(
        client, hostname="units.c1001.example.net", ram="512M", **{"disks.0.size": "1.5T"}
    )
    assert resp.status_code == 303, resp.text[:3000]
    path = resp.headers["Location"]
    vm = api(app, api_tokens, f"/api/v1/vms?uuid={path.rsplit('/', 1)[1]}").json["results"][0]
    assert (vm["ram"], vm["disks"][0]["size"]) == (512 * 1024**2, 1536 * GiB)
    assert "512 MiB" in page(client, path) and "1.5 TiB" in page(client, path)
    resp = new_vm(client, hostname="badunit.c1001.example.net", ram="12X")
    assert resp.status_code == 422 and "20G, 512M" in field_error(resp.text, "ram")
    assert 'value="12X"' in resp.text  # what was typed is kept
    # Operators: a bare number stays bytes (as in the API), units are binary.
    op = signed_in("operator")
    resp = post(op, "/inventory/customer-quotas", {"customer_id": "4711", "max_ram": "64G",
                                                   "max_disk": "0"})  # fmt: skip
    assert resp.status_code == 303, resp.text[:3000]
    quota = api(app, api_tokens, "/api/v1/customer-quotas?customer_id=4711").json["results"][0]
    assert (quota["max_ram"], quota["max_disk"]) == (64 * GiB, 0)
    html = page(op, "/inventory/customer-quotas?customer_id=4711")
    assert "64 GiB" in html and str(64 * GiB) not in html.split("<tbody>")[1].split("title=")[0]
    edit = page(op, "/inventory/customer-quotas/4711")
    assert 'name="max_ram" value="64G"' in edit  # exact, so saving unchanged changes nothing
    resp = post(op, "/inventory/customer-quotas", {"customer_id": "4712", "max_ram": "lots"})
    assert resp.status_code == 422 and 'value="lots"' in resp.text
    assert "&#39;lots&#39; is no size" in resp.text


def test_node_and_network_pages_show_purposes(app: Any, signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("operator")
    hv1 = api(app, api_tokens, "/api/v1/nodes?fqdn=hv01.dc1.example.com").json["results"][0]
    html = page(client, f"/nodes/{hv1['id']}")
    assert re.search(r"<td>eno1</td><td>management</td>", html), html[-3000:]
    networks = page(client, "/networks")
    assert re.search(r"10\.20\.0\.0/24</td>\s*<td>management</td>", networks)
    assert re.search(r"198\.51\.100\.0/24</td>\s*<td>VMs</td>", networks)
