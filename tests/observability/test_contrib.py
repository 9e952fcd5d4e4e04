"""contrib/: the Prometheus rules pass promtool (syntax and their own unit tests), and the
Grafana dashboard and the rules only query metrics virtapi really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from prometheus_client import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Tokens, skip_or_fail
from tests.support.paths import REPO
from virtapi.observability import metrics
from virtapi.observability.inventory import InventoryCollector

CONTRIB = REPO / "contrib"
RULES = CONTRIB / "prometheus" / "virtapi-rules.yml"
RULE_TESTS = CONTRIB / "prometheus" / "virtapi-rules.test.yml"
DASHBOARD = CONTRIB / "grafana" / "virtapi-dashboard.json"
_NAME = re.compile(r"\bvirtapi_[a-z_]+\b")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}


def families() -> list[Metric]:
    """Every metric family /metrics can carry, described by the metric objects themselves."""
    found: list[Metric] = [f for m in vars(metrics.get()).values() for f in m.describe()]
    return found + InventoryCollector.__new__(InventoryCollector).describe()


def exported_names() -> set[str]:
    return {f.name + suffix for f in families() for suffix in _SUFFIXES[f.type]}


def promtool() -> str:
    tool = shutil.which("promtool")
    if tool is None:
        skip_or_fail("promtool not installed (Debian package prometheus)")
    return tool  # type: ignore[return-value]


@pytest.mark.integration
def test_rules_pass_promtool_check() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


@pytest.mark.integration
def test_rules_fire_in_promtool_unit_tests() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True, text=True, check=False, cwd=RULE_TESTS.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    return exprs


def test_dashboard_queries_exported_metrics() -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    used = {name for e in exprs for name in _NAME.findall(e)}
    assert used - exported_names() == set()
    # Every metric has a panel, so a metric added without one shows up here.
    unshown = {f.name for f in families() if not any(n.startswith(f.name) for n in used)}
    assert unshown == set()


def test_rules_query_exported_metrics() -> None:
    used = set(_NAME.findall(RULES.read_text()))
    # Annotations mention a gauge by name for the reader; expressions must use real ones.
    assert used and used - exported_names() == set()


def test_exported_names_match_a_real_scrape(client: Any, api_tokens: Tokens) -> None:
    body = client.get("/metrics", headers=Tokens.header(api_tokens.reader))
    scraped = {
        s.name
        for f in text_string_to_metric_families(body.get_data(as_text=True))
        for s in f.samples
        if not s.name.endswith("_created")
    }
    assert scraped <= exported_names(), scraped - exported_names()
