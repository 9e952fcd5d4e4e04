"""HTML pages through the Flask test client: login, roles, customer isolation, query counts."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import func, select, update

from tests.support.queries import statements_per_path
from virtapi.config import override
from virtapi.db import Database
from virtapi.models import NodeMethod, Storage, Vm, VmInterface, VmState, WebSession
from virtapi.services import tokens
from virtapi.services.lookups import by_name
from virtapi.web import format

GiB = 1024**3
NODES = [f"{n}.dc1.example.com" for n in ("hv01", "hv02", "hv03", "ceph01", "ceph02", "ceph03")]
VMS_A = ["web1.c1001.example.net", "web2.c1001.example.net", "db1.c1001.example.net"]
VMS_B = ["app1.c1002.example.net", "app2.c1002.example.net"]


def vm_uuid(hostname: str) -> uuid.UUID:
    """The demo fleet derives VM uuids from their hostnames."""
    host, customer = hostname.split(".")[:2]
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"{host}.{customer}.example.net")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: Any, token: str, next_url: str | None = None) -> Any:
    csrf = csrf_of(client.get("/login").text)
    data = {"token": token, "csrf": csrf}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def page(client: Any, path: str, status: int = 200) -> str:
    resp = client.get(path)
    assert resp.status_code == status, (path, resp.status_code, resp.text[:500])
    assert resp.mimetype == "text/html"
    return resp.text


@pytest.fixture
def signed_in(app: Any, demo: Any, api_tokens: Any) -> Any:
    """A test client signed in as the given role."""

    def make(role: str) -> Any:
        client = app.test_client()
        resp = login(client, getattr(api_tokens, role))
        assert resp.status_code == 303 and resp.headers["Location"] == "/"
        return client

    return make


# --- login -------------------------------------------------------------------------------------


def test_pages_redirect_to_login_without_session(client: Any, demo: Any) -> None:
    for path in (
        "/",
        "/vms",
        "/vms/" + str(vm_uuid(VMS_A[0])),
        "/nodes/1",
        "/networks",
        "/changes",
    ):
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert unquote(resp.headers["Location"]) == f"/login?next={path}"
    assert "Sign in" in page(client, "/login")


def test_bad_token_fails_with_message_and_is_not_echoed(client: Any, api_tokens: Any) -> None:
    bad = "va_this-is-not-a-real-token-at-all-0123456789"
    resp = login(client, bad)
    assert resp.status_code == 401
    assert "That token is not valid" in resp.text
    assert bad not in resp.text
    assert client.get("/").status_code == 302
    resp = login(client, "")
    assert resp.status_code == 401 and "Enter a token" in resp.text


def test_login_form_counts_against_the_failed_authentication_limit(
    app: Any, client: Any, api_tokens: Any
) -> None:
    override(app, auth_max_failures=3)
    for _ in range(3):
        assert login(client, "va_guess-" + "x" * 40).status_code == 401
    resp = login(client, "va_guess-" + "x" * 40)
    assert resp.status_code == 429 and "too many failed authentication attempts" in resp.text
    assert resp.mimetype == "text/html" and int(resp.headers["Retry-After"]) > 0
    assert client.get("/").status_code == 302
    # Only failures are throttled: the right token still signs in.
    assert login(client, api_tokens.operator).status_code == 303


def test_pages_answer_a_page_while_their_address_is_rate_limited(
    app: Any, api_tokens: Any, demo: Any
) -> None:
    override(app, auth_max_failures=1)
    client = app.test_client()
    stale = {"Authorization": "Bearer va_stale-token-on-a-dashboard-host"}
    client.get("/vms", headers=stale)
    for path in ("/", "/vms", "/networks", "/changes", "/login"):
        resp = client.get(path, headers=stale)
        assert resp.status_code == 429, path
        assert resp.mimetype == "text/html" and "too many failed" in resp.text, path
        assert int(resp.headers["Retry-After"]) > 0


def test_login_needs_the_session_csrf_token(client: Any, api_tokens: Any) -> None:
    client.get("/login")
    resp = client.post("/login", data={"token": api_tokens.operator, "csrf": "forged"})
    assert resp.status_code == 400 and "form has expired" in resp.text
    fresh = client.application.test_client()  # no session, hence no CSRF token to match
    resp = fresh.post("/login", data={"token": api_tokens.operator})
    assert resp.status_code == 400
    assert client.get("/").status_code == 302 and fresh.get("/").status_code == 302


def test_login_goes_to_next_but_only_on_this_site(app: Any, api_tokens: Any) -> None:
    client = app.test_client()
    resp = login(client, api_tokens.operator, next_url="/networks")
    assert resp.headers["Location"] == "/networks"
    for evil in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:x",
        "/vms\r\nSet-Cookie: x=y",
    ):
        client = app.test_client()
        assert login(client, api_tokens.operator, next_url=evil).headers["Location"] == "/"


def test_logout_clears_the_session(signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("operator")
    html = page(client, "/")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 400
    assert client.get("/").status_code == 200  # a forged logout changes nothing
    resp = client.post("/logout", data={"csrf": csrf_of(html)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/login"
    assert "You are signed out" in page(client, "/login")
    assert client.get("/").status_code == 302
    with client.session_transaction() as sess:
        assert "token" not in sess and "sid" not in sess


def test_the_cookie_holds_a_random_id_void_after_sign_out(
    app: Any, signed_in: Any, api_tokens: Any
) -> None:
    client = signed_in("operator")
    with client.session_transaction() as sess:
        copied = dict(sess)
    cookie = client.get_cookie("session").value
    # The token is nowhere in the cookie, not even in the signed-but-readable payload.
    assert api_tokens.operator not in str(copied) and "token" not in copied
    assert api_tokens.operator[3:20] not in cookie
    with app.extensions["virtapi.db"].session() as s:
        stored = s.scalar(select(WebSession.id_hash))
    assert stored == tokens.hash_token(copied["sid"])  # only the hash is stored
    client.post("/logout", data={"csrf": csrf_of(page(client, "/"))})
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/").status_code == 302  # the copy died with the sign-out
    with app.extensions["virtapi.db"].session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0


def test_sessions_expire(app: Any, signed_in: Any) -> None:
    client = signed_in("reader")
    with app.extensions["virtapi.db"].session() as s:
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert client.get("/vms").status_code == 302


def test_cookie_is_secure_over_tls_or_an_https_public_url(app: Any, api_tokens: Any) -> None:
    def cookie_after_login(**kwargs: Any) -> str:
        client = app.test_client()
        csrf = csrf_of(client.get("/login", **kwargs).text)
        resp = client.post("/login", data={"token": api_tokens.reader, "csrf": csrf}, **kwargs)
        assert resp.status_code == 303
        return resp.headers["Set-Cookie"]

    assert "Secure" not in cookie_after_login()
    assert "Secure" in cookie_after_login(base_url="https://virtapi.example")
    override(app, pxe_public_url="https://virtapi.example")
    assert "Secure" in cookie_after_login()


def test_a_token_in_the_url_is_not_echoed_into_the_redirect(client: Any, api_tokens: Any) -> None:
    resp = client.get(f"/vms?state=running&token={api_tokens.reader}")
    assert resp.status_code == 302
    assert api_tokens.reader not in unquote(resp.headers["Location"])
    assert unquote(resp.headers["Location"]) == "/login?next=/vms?state=running"


def test_revoked_token_ends_the_session(app: Any, signed_in: Any) -> None:
    client = signed_in("reader")
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        row = next(t for t in tokens.list_tokens(s) if t.name == "reader")
        tokens.revoke(s, row.id)
    resp = client.get("/vms")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert "session has ended" in page(client, "/login")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0


def test_token_never_in_pages_and_pages_are_not_cached(signed_in: Any, api_tokens: Any) -> None:
    client = signed_in("customer_a")
    for path in ("/vms", "/changes", f"/vms/{vm_uuid(VMS_A[0])}"):
        resp = client.get(path)
        assert api_tokens.customer_a not in resp.text
        assert resp.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert client.get("/assets/virtapi.css").status_code == 200


# --- what each role sees -----------------------------------------------------------------------


def test_operator_sees_the_whole_fleet(app: Any, signed_in: Any) -> None:
    client = signed_in("operator")
    html = page(client, "/")
    for fqdn in NODES:
        assert fqdn in html
    assert "Ceph OSD" in html and "Ceph mon" in html and "hypervisor" in html
    # hv01 carries web1 and db1: 6 of 32 cores, 20 of 128 GiB RAM, 120 GiB lvm of 2000 GB.
    row = html[html.index("hv01.dc1.example.com") : html.index("hv02.dc1.example.com")]
    assert "6 / 32 cores" in row and "19%" in row
    assert "20 GiB / 128 GiB" in row and "16%" in row
    assert "120 GiB / 1.82 TiB" in row
    assert "running" in row
    # The placement ratios the API places with (one setting), not a default of the page's own.
    assert "CPU overcommit up to 4.0× and RAM up to 1.0×" in html
    override(app, cpu_overcommit=2.5)
    assert "CPU overcommit up to 2.5×" in page(client, "/")
    html = page(client, "/vms")
    for host in VMS_A + VMS_B:
        assert host in html
    assert "5 VMs" in html


def test_node_page_lists_its_vms(signed_in: Any) -> None:
    client = signed_in("admin")
    fleet = page(client, "/")
    node_id = re.search(r'href="/nodes/(\d+)">hv01\.', fleet).group(1)
    html = page(client, f"/nodes/{node_id}")
    assert "hv01.dc1.example.com" in html and "VMs on this node (2)" in html
    assert "web1.c1001.example.net" in html and "db1.c1001.example.net" in html
    assert "app1.c1002" not in html
    assert "kvm, qemu" in html and "vg0" in html and "10.20.0.11" in html
    assert "6 / 32 cores" in html and "20 GiB / 128 GiB" in html and "120 GiB / 1.82 TiB" in html
    ceph_id = re.search(r'href="/nodes/(\d+)">ceph01\.', fleet).group(1)
    html = page(client, f"/nodes/{ceph_id}")
    assert "Listening on port 6789" in html and "VMs on this node" not in html
    assert "no node with id 999999" in page(client, "/nodes/999999", 404)
    page(client, "/nodes/abc", 404)


def test_vm_page_shows_host_interfaces_and_disks(signed_in: Any) -> None:
    client = signed_in("operator")
    html = page(client, f"/vms/{vm_uuid('db1.c1001.example.net')}")
    assert "db1.c1001.example.net" in html and "hv01.dc1.example.com" in html
    assert "52:54:00:00:e9:03" in html  # MAC of the demo's third VM, customer 1001
    assert re.search(r"br-\d+-\d+", html)
    assert "backend" in html and "VNI 10001" in html
    assert "198.51.100.12/24" in html and "2001:db8:100::c/64" in html
    assert "100 GiB" in html and "200 GiB" in html and "300 GiB" in html  # disks and total
    assert "lvm" in html and "ceph" in html and "vms-ssd" in html
    assert "writeback" in html and "2000 IOPS" in html and "1000 IOPS" in html
    assert "16 GiB" in html and "4 cores" in html
    html = page(client, f"/vms/{vm_uuid('app2.c1002.example.net')}")
    assert html.count("stopped") >= 2  # requested and actual
    page(client, f"/vms/{uuid.uuid4()}", 404)
    page(client, "/vms/not-a-uuid", 404)


def test_customer_sees_only_own_vms(signed_in: Any) -> None:
    client = signed_in("customer_a")
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/vms"
    html = page(client, "/vms")
    assert "My VMs" in html and "3 VMs" in html
    for host in VMS_A:
        assert host in html
    for host in VMS_B:
        assert host not in html
    assert "Fleet" not in html and "Networks" not in html  # no links to operator pages
    html = page(client, f"/vms/{vm_uuid(VMS_A[0])}")
    assert VMS_A[0] in html and "hv01.dc1.example.com" in html
    assert "/nodes/" not in html  # the host is named, not linked
    # Another customer's VM looks exactly like a missing one.
    other = page(client, f"/vms/{vm_uuid(VMS_B[0])}", 404)
    missing = page(client, f"/vms/{uuid.uuid4()}", 404)
    assert VMS_B[0] not in other
    assert other.replace(str(vm_uuid(VMS_B[0])), "X") == re.sub(
        r"[0-9a-f]{8}-[0-9a-f-]{27}", "X", missing
    )
    # ?customer= is an operator filter; a customer cannot widen their view with it.
    assert VMS_B[0] not in page(client, "/vms?customer=1002")
    for path in ("/nodes/1", "/networks"):
        assert "for operators" in page(client, path, 403)


def test_customer_change_log_holds_only_their_objects(signed_in: Any) -> None:
    html = page(signed_in("customer_b"), "/changes")
    assert "app1.c1002.example.net" in html
    assert "c1001" not in html and "dc1.example.com" not in html  # nor nodes or A's VMs
    html = page(signed_in("operator"), "/changes")
    assert "c1001" in html and "c1002" in html


def test_change_log_filters_and_shows_updates(app: Any, signed_in: Any) -> None:
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        vm = s.scalar(select(Vm).where(Vm.hostname == VMS_A[0]))
        vm.cores = 3
        vm_id = vm.id
    client = signed_in("customer_a")
    html = page(client, f"/changes?object_type=vm&object_id={vm_id}")
    assert "Changes to vm" in html and "update" in html
    assert re.search(r"cores</span> 2 → 3", html)
    assert html.count("<tr>") == 3  # header, the update, the create


def test_reader_sees_everything_and_can_change_nothing(signed_in: Any) -> None:
    client = signed_in("reader")
    for path in ("/", "/vms", "/networks", "/changes", f"/vms/{vm_uuid(VMS_B[1])}"):
        html = page(client, path)
        # The only forms that post are the sign-out button (search and filters only GET).
        posting = re.findall(r'<form[^>]*method="post"[^>]*>', html)
        assert len(posting) == 1 and 'action="/logout"' in posting[0], path
    assert "hv03.dc1.example.com" in page(client, "/")


def test_networks_show_address_usage(signed_in: Any) -> None:
    html = page(signed_in("operator"), "/networks")
    for prefix in ("10.20.0.0/24", "fd00:20::/64", "198.51.100.0/24", "2001:db8:100::/64"):
        assert prefix in html
    row = html[html.index("198.51.100.0/24") :].split("</tr>")[0]
    assert "5 / 254" in row and "2%" in row and "public IPv4" in row
    row = html[html.index("2001:db8:100::/64") :].split("</tr>")[0]
    assert "5 / 2^64" in row and "&lt;1%" in row


def test_odd_urls_and_parameters_get_pages_not_500s(signed_in: Any) -> None:
    client = signed_in("operator")
    huge = "9" * 30
    page(client, f"/nodes/{huge}", 404)
    page(client, "/nodes/-1", 404)
    page(client, "/nodes/0", 404)
    page(client, f"/vms/{huge}", 404)
    assert "positive customer id" in page(client, "/vms?customer=abc", 400)
    assert "positive customer id" in page(client, f"/vms?customer={huge}", 400)
    assert "0 VMs" in page(client, "/vms?customer=4242")
    assert "5 VMs" in page(client, f"/vms?page={huge}")  # past the end: an empty page
    page(client, "/vms?page=-3")
    page(client, f"/changes?before={huge}&object_type={'x' * 500}")
    assert "NUL" in page(client, "/changes?before=abc&object_id=%00", 400)
    assert client.get("/logout").status_code == 405


# --- bounded queries ---------------------------------------------------------------------------


def _add_vms(db: Database, count: int) -> None:
    with db.session() as s:
        running = by_name(s, VmState, "running")
        placement = s.scalars(select(NodeMethod).order_by(NodeMethod.id)).first()
        template = s.scalar(select(Storage).order_by(Storage.id))
        for n in range(count):
            vm = Vm(
                hostname=f"extra{n}.c1001.example.net",
                cores=1,
                ram=GiB,
                customer_id=1001,
                node_method=placement,
                requested_state=running,
                actual_state=running,
            )
            s.add_all(
                [
                    vm,
                    VmInterface(vm=vm, mac=f"52:54:00:aa:00:{n:02x}"),
                    Storage(
                        vm=vm,
                        size=GiB,
                        storage_type_id=template.storage_type_id,
                        cache_option_id=template.cache_option_id,
                    ),
                ]
            )


def test_pages_use_a_fixed_number_of_queries(app: Any, signed_in: Any) -> None:
    db: Database = app.extensions["virtapi.db"]
    client = signed_in("operator")
    fleet = page(client, "/")
    node_path = "/nodes/" + re.search(r'href="/nodes/(\d+)">hv0', fleet).group(1)
    paths = ["/", "/vms", "/networks", "/changes", node_path, f"/vms/{vm_uuid(VMS_A[2])}"]
    paths += ["/vms/new", "/vlans", "/vms?state=running&sort=-ram", "/inventory/ipv4-addresses"]
    paths += ["/inventory/nodes", "/inventory/virt-nodes", "/inventory/nodes/1", "/inventory/vlans"]
    # Sorted, filtered and paged lists (web/lists.py): every control and a second page.
    paths += ["/?role=hypervisor&state=running&area=dc1&fqdn=hv&sort=-state", "/?sort=seen"]
    paths += ["/vms?hostname=web&customer_id=1001&hypervisor=hv01.dc1.example.com&network=1"]
    paths += ["/vms?sort=-state&page=2", "/networks?version=4&vlan_id=1&sort=-vlan"]
    paths += ["/changes?object_type=vm&action=update&actor=customer&since=2000-01-01&sort=who"]
    paths += [
        "/changes?page=2&until=2100-01-01",
        "/inventory/ipv4-addresses?free=true&sort=-address",
    ]
    paths += ["/inventory/customer-quotas?customer_id=1001", "/inventory/images?sort=-name"]
    paths += ["/vlans?customer_id=1001&name=a&sort=-customer"]
    page(client, "/vms")  # let the token's last-use stamp settle before counting

    def measure() -> dict[str, int]:
        return statements_per_path(db.engine, lambda path: page(client, path), paths)

    before = measure()
    _add_vms(db, 20)
    after = measure()
    # The change log looks up names per kind of id on the page (states, types, VMs …): at most
    # one query per kind, whatever the number of rows; every other page is exactly constant.
    for counts in (before, after):
        for path in [p for p in counts if p.startswith("/changes")]:
            assert counts.pop(path) < 20, (path, counts)
    assert after == before
    assert max(before.values()) < 20, before  # issue 14: every page under 20 statements


# --- formatting --------------------------------------------------------------------------------


def test_human_formatting() -> None:
    assert format.human_bytes(4 * GiB) == "4 GiB"
    assert format.human_bytes(2000 * 1000**3) == "1.82 TiB"
    assert format.human_bytes(1536 * 1024**2) == "1.5 GiB"
    assert format.human_bytes(300 * GiB) == "300 GiB"
    assert format.human_bytes(512) == "512 B"
    assert format.human_bytes(None) == "—"
    assert format.human_rate(100 * 1024**2) == "100 MiB/s"
    assert format.percent(6, 32) == "19%"
    assert format.percent(1, 1000) == "<1%"
    assert format.percent(0, 0) == "—"
    assert format.percent(150, 100) == "150%"
    assert format.human_count(254) == "254"
    assert format.human_count(65534) == "65\u202f534"
    assert format.human_count(2**64) == "2^64"
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert format.relative_time(now - timedelta(seconds=10), now) == "just now"
    assert format.relative_time(now - timedelta(minutes=5), now) == "5 minutes ago"
    assert format.relative_time(now - timedelta(minutes=1), now) == "1 minute ago"
    assert format.relative_time(now - timedelta(hours=3, minutes=20), now) == "3 hours ago"
    assert format.relative_time(now - timedelta(days=1, hours=2), now) == "1 day ago"
    assert format.relative_time(now - timedelta(days=400), now) == "1 year ago"
    assert format.relative_time(now + timedelta(hours=2), now) == "in 2 hours"
    assert format.relative_time(None, now) == "—"


def test_vm_page_shows_install_progress(app: Any, signed_in: Any, api_tokens: Any) -> None:
    from virtapi.models import Install
    from virtapi.services import installs

    web1 = vm_uuid(VMS_A[0])
    resp = app.test_client().post(
        f"/api/v1/vms/{web1}/install",
        json={"image": "debian-12"},
        headers=api_tokens.header(api_tokens.customer_a),
    )
    assert resp.status_code in (200, 201, 202), resp.json
    customer = signed_in("customer_a")
    html = page(customer, f"/vms/{web1}")
    assert "debian-12 · pending · requested · 0%" in html
    db: Database = app.extensions["virtapi.db"]
    with db.session() as s:
        install = s.scalars(select(Install)).one()
        installs.report_progress(s, install, phase="extracting", percent=42, message="image 2/3")
    html = page(customer, f"/vms/{web1}")
    assert "debian-12 · running · extracting · 42%" in html and "image 2/3" in html
    # Another customer's VM page stays a 404, install or not.
    page(signed_in("customer_b"), f"/vms/{web1}", status=404)
