"""/api/v1/docs works offline: Swagger UI and its assets come from our server, never a CDN."""

from __future__ import annotations

import re
from typing import Any


def test_docs_page_loads_everything_from_this_server(client: Any) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    csp = page.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(urls) == 4, urls  # stylesheet, two Swagger UI bundles, our init script
    assert not [u for u in urls if "//" in u], "every asset must be a path on this server"
    assert "<script>" not in html, "no inline script under a strict CSP"
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.data) > 100, url
    spec_url = re.search(r'data-spec-url="([^"]+)"', html).group(1)
    assert client.get(spec_url).json["openapi"].startswith("3.")
    bundle = client.get(next(u for u in urls if u.endswith("swagger-ui-bundle.js")))
    assert b"SwaggerUIBundle" in bundle.data
    assert "javascript" in bundle.headers["Content-Type"]


def test_docs_assets_serve_only_the_known_files(client: Any) -> None:
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404
    assert client.get("/api/v1/docs/assets/..%2Fswagger-ui.css").status_code == 404
