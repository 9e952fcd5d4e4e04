"""The merge of configuration data (issue 18): precedence, deep merge, removal, escaping, and
a node document whose statement count does not grow with groups or levels."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.services.network.test_concurrency import run_parallel
from tests.support.queries import statements_sent
from virtapi import values
from virtapi.services import config_data
from virtapi.services.audit import set_actor
from virtapi.services.config_data import Level, merge
from virtapi.services.demo import load_demo
from virtapi.services.node_document import build_node_document

REMOVE = {"__remove__": True}


def test_higher_levels_win_hashes_merge_arrays_replace() -> None:
    merged = merge(
        [
            Level("global", {}, {"a::list": [1, 2], "a::hash": {"x": 1, "y": {"p": 1}}}),
            Level("role", {}, {"a::list": [3], "a::hash": {"y": {"q": 2}, "z": [1]}}),
        ]
    )
    assert merged.data["a::list"] == [3]
    assert merged.data["a::hash"] == {"x": 1, "y": {"p": 1, "q": 2}, "z": [1]}


def test_removal_at_any_depth_and_of_classes() -> None:
    levels = [
        Level("global", {"profile::a": {"p": 1}, "profile::b": {}}, {"k::v": 1, "k::h": {"a": 1}}),
        Level("group", {"profile::a": REMOVE}, {"k::v": REMOVE, "k::h": {"a": REMOVE, "b": 2}}),
    ]
    merged = merge(levels)
    assert merged.classes == ["profile::b"]
    assert "k::v" not in merged.data and merged.data["k::h"] == {"b": 2}
    # A removal marker with nothing below it leaves no trace; a later level may set again.
    again = merge([*levels, Level("node", {}, {"k::v": {"n": REMOVE, "m": 1}})])
    assert again.data["k::v"] == {"m": 1}


def test_class_parameters_are_keys_and_escapes_are_undone() -> None:
    merged = merge(
        [
            Level("global", {}, {"profile::motd::message": "from data"}),
            Level("group", {"profile::motd": {"owner": "%%{not interpolated}"}}, {}),
        ]
    ).as_document()
    assert config_data.class_parameters(merged) == {
        "profile::motd": {"message": "from data", "owner": "%{not interpolated}"}
    }


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("%{facts}", "interpolated"),
        ({"k": ["%{x}"]}, "interpolated"),
        (float("nan"), "JSON number"),
        ({1: "x"}, "strings"),
    ],
)
def test_values_refused(value: Any, problem: str) -> None:
    with pytest.raises(values.InvalidValue, match=problem):
        values.parse_config_value(value)


def test_explain_names_each_level_and_the_winner() -> None:
    levels = [
        Level("global", {}, {"ntp::servers": ["a"]}),
        Level("group g (depth 0)", {}, {"ntp::servers": ["b"]}),
    ]
    entry = config_data.explain_levels(levels, "ntp::servers")["keys"]["ntp::servers"]
    assert entry["winner"] == "group g (depth 0)" and entry["value"] == ["b"]
    assert entry["merge"] == "replace" and len(entry["contributions"]) == 2


def test_document_statements_do_not_grow_with_groups(session: Session) -> None:
    set_actor(session, None, "test")
    load_demo(session)
    hv = "hv01.dc1.example.com"

    def reads() -> int:
        session.commit()
        session.expire_all()
        with statements_sent(session.get_bind()) as statements:
            build_node_document(session, hv)
        return len([s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))])

    before = reads()
    parent = None
    for depth in range(6):
        group = config_data.save_group(
            session,
            None,
            {"name": f"g{depth}", "parent_id": parent, "data": {f"k{depth}::v": depth},
             "members": [hv]},
        )  # fmt: skip
        parent = group.id
    config_data.put_level(session, "global", None, {"data": {"g::v": 1}})
    config_data.put_level(session, "area", "a", {"data": {"a::v": 1}})
    config_data.put_level(session, "role", "hypervisor", {"data": {"r::v": 1}})
    config_data.put_level(session, "node", hv, {"data": {"n::v": 1}})
    assert reads() == before
    document = build_node_document(session, hv)
    assert document is not None
    assert {f"k{d}::v" for d in range(6)} | {"g::v", "a::v", "r::v", "n::v"} == set(
        document["config"]["data"]
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_concurrent_conflicting_groups_one_wins(db_url: str) -> None:
    """Eight transactions at once each add a root group setting the same key for hv01:
    exactly one commits, the others get the 409 (the check is serialised)."""
    from virtapi.db import Database
    from virtapi.services.errors import Conflict

    database = Database(db_url)
    with database.session() as s:
        set_actor(s, None, "test")
        load_demo(s)
    database.dispose()

    def work(session: Session, i: int) -> Any:
        body = {"name": f"c{i}", "data": {"ntp::servers": [i]}, "members": ["hv01.dc1.example.com"]}
        return config_data.save_group(session, None, body).id

    results = run_parallel(db_url, 8, work)
    assert sum(isinstance(r, int) for r in results) == 1, results
    assert all(isinstance(r, int | Conflict) for r in results), results
