#!/usr/bin/env python3
"""Screenshots of the main HTML pages for docs/web.md, from the demo fleet in headless Chromium.

    .venv/bin/python scripts/web_screenshots.py [OUTPUT_DIR]   # default: docs/screenshots

Needs the Debian packages chromium and chromium-driver and the test extra (selenium). Uses a
throwaway SQLite database and a server on a free loopback port; nothing else is touched.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

from virtapi.app import create_app
from virtapi.migrate import upgrade
from virtapi.services.audit import set_actor
from virtapi.services.demo import load_demo

WIDTH, HEIGHT = 1280, 860
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}")  # fmt: skip


def _seed(app: Any, tokens: dict[str, str]) -> None:
    """Objects the demo lacks, made through the API: a snapshot, a backup schedule with one
    run, a Ceph cluster and client, and hosts reporting applied documents (drift)."""
    from datetime import UTC, datetime, timedelta

    api = app.test_client()

    def call(token: str, method: str, path: str, body: Any = None) -> Any:
        answer = api.open(path, method=method, json=body,
                          headers={"Authorization": f"Bearer {tokens[token]}"})  # fmt: skip
        assert answer.status_code < 300, (path, answer.status_code, answer.get_json())
        return answer

    def first(token: str, path: str) -> dict[str, Any]:
        return call(token, "GET", path).get_json()["results"][0]

    vm = first("customer 1001", "/api/v1/vms?hostname=web1.c1001.example.net")
    disk = first("customer 1001", f"/api/v1/storage?vm_id={vm['id']}")["id"]
    for name in ("before-upgrade", "nightly"):
        call("customer 1001", "POST", "/api/v1/snapshots", {"storage_id": disk, "name": name})
    store = {"name": "nfs1", "kind": "path", "target": "backup01:/srv/backups"}
    call("admin", "POST", "/api/v1/backup-stores", store)
    schedule = {"vm_id": vm["id"], "store": "nfs1", "on_calendar": "daily", "retention": 7}
    sid = call("admin", "POST", "/api/v1/backup-schedules", schedule).get_json()["id"]
    started = datetime.now(UTC) - timedelta(hours=3)
    run = {
        "storage_id": disk,
        "started_at": started.isoformat(),
        "result": "success",
        "finished_at": (started + timedelta(minutes=4)).isoformat(),
        "bytes": 7 * 1024**3,
    }
    call("admin", "POST", f"/api/v1/backup-schedules/{sid}/runs", run)  # fmt: skip
    cluster = {
        "name": "main",
        "fsid": "6b1e3c0e-3f1e-4a53-9a0c-2f6a4a3c9d11",
        "public_network": "10.20.0.0/24",
        "cluster_network": "10.30.0.0/24",
    }
    call("admin", "POST", "/api/v1/ceph-clusters", cluster)  # fmt: skip
    client = {
        "ceph_cluster": "main",
        "name": "libvirt",
        "caps": "mon 'profile rbd'",
        "is_default": True,
    }
    call("admin", "POST", "/api/v1/ceph-clients", client)  # fmt: skip
    # hv01 and hv02 apply what they are served, hv03 an older document: drifted.
    for fqdn, fresh in (("hv01", True), ("hv02", True), ("hv03", False)):
        certname = f"{fqdn}.dc1.example.com"
        served = call("admin", "GET", f"/enc/{certname}").headers["X-Virtapi-Document"]
        applied = served if fresh else "0" * 64
        call("admin", "POST", f"/api/v1/nodes/{certname}/report", {"applied_document": applied})


def _serve(workdir: Path) -> tuple[str, dict[str, str], Any]:
    url = f"sqlite:///{workdir / 'demo.sqlite'}"
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "screenshots",
                      "INSTANCE_PATH": str(workdir)})  # fmt: skip
    with app.extensions["virtapi.db"].session() as session:
        set_actor(session, None, "demo")
        tokens = dict(load_demo(session).tokens)
    _seed(app, tokens)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_port}", tokens, httpd


def _sign_in(driver: Any, base: str, token: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "section.login button[type=submit]").click()
    time.sleep(0.5)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="virtapi-shots-") as tmp:
        base, tokens, httpd = _serve(Path(tmp))
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in (*FLAGS, f"--user-data-dir={tmp}/profile"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            _sign_in(driver, base, tokens["admin"])
            hv01 = driver.find_element(By.LINK_TEXT, "hv01.dc1.example.com").get_attribute("href")
            pages = {
                "fleet": "/",
                "node": hv01.removeprefix(base),
                "vms": "/vms?sort=hostname",
                "inventory-nodes": "/inventory/nodes",
                "changes": "/changes?object_type=vm&sort=-at",
                "inventory-quotas": "/inventory/customer-quotas",
                "drift": "/drift?kind=node&sort=state",
                "backups": "/inventory/backups",
                "backup-schedules": "/inventory/backup-schedules",
                "ceph-clients": "/inventory/ceph-clients",
            }
            for name, path in pages.items():
                driver.get(base + path)
                driver.save_screenshot(str(out / f"{name}.png"))
            _sign_in(driver, base, tokens["customer 1001"])
            driver.get(f"{base}/vms/new")
            driver.save_screenshot(str(out / "customer-new-vm.png"))
            driver.get(f"{base}/vms")
            first = driver.find_element(By.CSS_SELECTOR, "table.grid tbody a").get_attribute("href")
            driver.get(first)
            driver.save_screenshot(str(out / "customer-vm.png"))
            driver.get(f"{base}/inventory/snapshots")
            driver.save_screenshot(str(out / "customer-snapshots.png"))
        finally:
            driver.quit()
            httpd.shutdown()
    for shot in sorted(out.glob("*.png")):
        print(f"{shot}  {shot.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).parent.parent / "docs/screenshots"
    )
