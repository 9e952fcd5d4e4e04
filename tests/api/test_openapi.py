"""The OpenAPI document is valid, served, and describes the responses the server really sends."""

from __future__ import annotations

import re
from typing import Any

from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from tests.api.helpers import H
from virtapi import values
from virtapi.api import REFUSALS, crud, fields
from virtapi.api.network import INSIDE_NETWORK


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    # Resolve $refs against the whole document.
    return OAS30Validator({**schema, "components": spec["components"]})


def _response_schema(spec: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = spec["paths"][path][method]["responses"]
    response = responses[str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def test_document_valid_and_docs_served(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"status", "code", "message", "errors"}
    assert error["properties"]["status"]["type"] == "integer"
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()


def test_every_route_documents_its_statuses(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    for r in crud._REGISTRY.values():
        item = spec["paths"][f"/api/v1/{r.path}/{{id}}"]
        assert {"200", "304", "401", "403", "404", "429"} <= set(item["get"]["responses"])
        listing = spec["paths"][f"/api/v1/{r.path}"]["get"]
        assert {"200", "401", "403", "422"} <= set(listing["responses"])
        if r.update_schema is not None:
            assert {"200", "401", "403", "404", "409", "412", "422"} <= set(
                item["patch"]["responses"]
            )
            assert any(p["name"] == "If-Match" for p in item["patch"]["parameters"])
        if r.deletable:
            assert {"204", "404", "409", "412"} <= set(item["delete"]["responses"])


def test_real_responses_match_the_document(client: Any, api_tokens: Any, demo: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    ad = H(api_tokens.admin)
    checked = 0
    for r in crud._REGISTRY.values():
        list_path, item_path = f"/api/v1/{r.path}", f"/api/v1/{r.path}/{{id}}"
        page = client.get(list_path, headers=ad)
        assert page.status_code == 200
        _validator(spec, _response_schema(spec, list_path, "get", 200)).validate(page.json)
        if page.json["results"]:
            first = page.json["results"][0]
            key = first.get("id", first.get("customer_id"))
            one = client.get(f"{list_path}/{key}", headers=ad)
            _validator(spec, _response_schema(spec, item_path, "get", 200)).validate(one.json)
            checked += 1
    assert checked >= 18
    errors = [
        (client.get("/api/v1/vms/999999", headers=ad), "/api/v1/vms/{id}", "get", 404),
        (client.get("/api/v1/vms"), "/api/v1/vms", "get", 401),
        (client.get("/api/v1/nodes?x=1", headers=ad), "/api/v1/nodes", "get", 422),
        (client.post("/api/v1/nodes", json={"fqdn": 5}, headers=ad), "/api/v1/nodes", "post", 422),
    ]
    for resp, path, method, status in errors:
        assert resp.status_code == status
        _validator(spec, _response_schema(spec, path, method, status)).validate(resp.json)


def test_config_management_bodies_are_in_the_document(
    client: Any, api_tokens: Any, demo: Any
) -> None:
    """Generated clients parse the ENC (YAML), Hiera and pillar (JSON) answers."""
    import yaml

    spec = client.get("/api/v1/openapi.json").json
    reader = H(api_tokens.reader)
    hv = "hv01.dc1.example.com"
    for path, url, media, parse in (
        ("/enc/{certname}", f"/enc/{hv}", "application/yaml", lambda r: yaml.safe_load(r.data)),
        ("/hiera/{certname}", f"/hiera/{hv}", "application/json", lambda r: r.json),
        ("/pillar/{minion_id}", f"/pillar/{hv}", "application/json", lambda r: r.json),
    ):
        ok = spec["paths"][path]["get"]["responses"]["200"]
        assert "ETag" in ok["headers"]
        resp = client.get(url, headers=reader)
        assert resp.status_code == 200 and resp.mimetype == media
        _validator(spec, ok["content"][media]["schema"]).validate(parse(resp))


# Values on both sides of each rule: the published pattern and the parser must agree on each.
_AGREEMENT = {
    values.parse_mac: ["52:54:00:12:34:56", "02-00-00-00-00-07", "5254.0012.3456", "525400abcd05",
                       "01:00:5e:00:00:01", "00:00:00:00:00:00", "52:54:00:ab:cd", "1", ""],
    values.mac_text: ["52:54:00:12:34:56", "ff:ff:ff:ff:ff:ff", "52:54-00:ab-cd:0a", " 1"],
    values.parse_hostname: ["web1.example.net", "hv01", "1.2.3.4", "-a.example", "A.example", ""],
    values.parse_name: ["kvm", "ceph-pool_1.x", "-x", "a" * 65, "a b", ""],
    values.parse_snapshot_name: ["before-upgrade-1", "Before", "a@b"],
    values.parse_ssh_key: ["ssh-ed25519 AAAAC3Nz user@host", "ssh-ed25519", "x AAAA"],
}  # fmt: skip


def test_published_patterns_agree_with_their_parsers() -> None:
    """One rule, two statements: the pattern a field publishes accepts exactly what its parser
    accepts (the SSH key's blob check aside, which the document states as a rule)."""
    for parser, samples in _AGREEMENT.items():
        pattern = re.compile(values.PATTERNS[parser])
        for sample in samples:
            accepted = values.problem(parser, sample) is None
            assert bool(pattern.search(sample)) == accepted, (parser.__name__, sample)
    for text, multiline in [("a\tb", True), ("a\nb", True), ("\u0095", True), ("\u202e", True),
                            ("ok", False), ("a\nb", False), ("x\x00", False)]:  # fmt: skip
        pattern = re.compile(values.TEXT_PATTERN if multiline else values.LINE_PATTERN)
        accepted = values.problem(values.check_text, text, multiline=multiline) is None
        assert bool(pattern.search(text)) == accepted, repr(text)


def test_every_field_built_on_a_parser_publishes_its_pattern(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert schemas["NodeCreate"]["properties"]["fqdn"]["pattern"] == values.HOSTNAME_PATTERN
    assert schemas["InterfaceCreate"]["properties"]["mac"]["pattern"] == (
        values.INTERFACE_MAC_PATTERN
    )
    # string() fields state the control-character rule; NameOrId its name spelling.
    assert schemas["NodeCreate"]["properties"]["location"]["pattern"] == values.LINE_PATTERN
    state = schemas["NodeCreate"]["properties"]["state"]
    assert state["oneOf"][0]["pattern"] == values.NAME_PATTERN
    assert state["oneOf"][1]["minimum"] == 1


def test_rules_beyond_json_schema_are_listed_per_operation(client: Any) -> None:
    """What no JSON Schema can say is said once per operation, with its status: the fuzz test
    tolerates exactly these refusals of schema-valid requests."""
    paths = client.get("/api/v1/openapi.json").json["paths"]
    refusals = {
        (path, method): {(r["status"], r["rule"]) for r in op.get(REFUSALS, [])}
        for path, ops in paths.items()
        for method, op in ops.items()
        if isinstance(op, dict)
    }
    assert (422, fields.EXISTS) in refusals[("/api/v1/vm-interfaces", "post")]
    assert (422, INSIDE_NETWORK) in refusals[("/api/v1/ipv4-addresses", "post")]
    assert any(s == 412 for s, _ in refusals[("/api/v1/vms/{id}", "patch")])
    assert (
        "Also refused" in paths["/api/v1/ipv4-addresses"]["post"]["responses"]["422"]["description"]
    )
    # A filter naming a missing object finds nothing: no refusal for it.
    assert refusals[("/api/v1/vm-interfaces", "get")] == set()
    # Nothing to refuse beyond the schema: nothing listed.
    assert refusals[("/api/v1/whoami", "get")] == set()
