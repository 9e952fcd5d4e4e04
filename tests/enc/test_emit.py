"""The ENC's YAML emitter: whatever it writes, a YAML 1.1 parser reads back unchanged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from virtapi.enc.emit import to_yaml

TRICKY = [
    "",
    " ",
    " leading",
    "trailing ",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "null",
    "~",
    "true",
    "False",
    "1",
    "0x1f",
    "1e3",
    "1_000",
    "12:30",
    "2026-11-22",
    ".inf",
    "-",
    "- item",
    "key: value",
    "a:b",
    "#comment",
    "a #b",
    "%{facts.fqdn}",
    "%{literal('%')}{x}",
    "'single'",
    '"double"',
    "back\\slash",
    "multi\nline",
    "tab\there",
    "crlf\r\n",
    "nul\x00byte",
    "del\x7f",
    "unicode ↔ ü 😀",
    "line\u2028sep",
    "next\u0085line",
    "bom\ufeff",
    "*alias",
    "&anchor",
    "!tag",
    "@at",
    "`tick",
    "{flow}",
    "[flow]",
    "virtapi::hypervisor",
    "fe80::1",
    "52:54:00:00:e9:01",
    "1-7",
    "br-1-7",
    "::",
    "a::",
    "?",
    "? q",
    "|",
    ">",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_round_trip(text: str) -> None:
    data = {"key": text, text: [text, {text: text}]}
    assert yaml.safe_load(to_yaml(data)) == data


def test_shapes() -> None:
    data: dict[str, Any] = {
        "classes": {"virtapi::ceph::osd": {}, "virtapi::ceph": {"monitors": [], "port": 6789}},
        "parameters": {"virtapi_roles": ["ceph_osd", "ceph_mon"], "none": None, "t": True},
        "nested": [[1, [2, []]], [{}], {"a": [{"b": {"c": [None, 1.5, -3]}}]}],
        "floats": [1e16, 1e-05, 0.1, -2.0, float("inf")],
        "environment": "production",
    }
    assert yaml.safe_load(to_yaml(data)) == data
    assert to_yaml({}) == "--- {}\n" and yaml.safe_load(to_yaml([])) == []
    assert yaml.safe_load(to_yaml("x")) == "x"


def test_readable_output() -> None:
    text = to_yaml({"classes": {"virtapi::hypervisor": {"vms": [{"uuid": "u", "cores": 2}]}}})
    assert text == (
        "---\nclasses:\n  virtapi::hypervisor:\n    vms:\n    - uuid: u\n      cores: 2\n"
    )


def test_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        to_yaml({"x": object()})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",))), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip_property(data: Any) -> None:
    assert yaml.safe_load(to_yaml(data)) == data
