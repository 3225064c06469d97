"""deploy/grafana: the committed dashboards are what dashboards.py generates, load in any Grafana
(data source picked by a variable, every variable defined), and read only metrics the services
define, so a metric renamed or removed in code fails here before a panel goes blank. (That every
panel returns data on the running platform is tests/e2e/test_operations_metrics.py.)"""

import importlib
import importlib.util
import json
import re

import pytest
import yaml
from prometheus_client import REGISTRY

from testkit.processes import ROOT

GRAFANA = ROOT / "deploy" / "grafana"
# Every module that defines Prometheus metrics; importing them registers the metrics.
METRIC_MODULES = [
    "shared.http",
    "shared.health",
    "shared.mongo_metrics",
    "shared.kafka.consumer",
    "shared.kafka.producer",
    "shared.kafka.lag",
    "appointments.adapters.outbox",
    "otp.metrics",
    "notifier.sending",
    "notifier.handlers.receipts",
    "notifier.fanout",
    "notifier.adapters.channels",
    "analytics.coverage.metrics",
    "analytics.meetings.metrics",
    "analytics.reports.metrics",
]
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}


def generator():
    spec = importlib.util.spec_from_file_location("grafana_dashboards", GRAFANA / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict]:
    return {
        p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def exprs(board: dict) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_the_committed_json_is_what_the_generator_writes():
    rendered = generator().render()
    committed = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == rendered, "run: .venv/bin/python deploy/grafana/dashboards.py"


def test_an_overview_a_dashboard_per_service_and_one_each_for_coverage_meetings_and_reports():
    assert set(dashboards()) == {
        "overview.json",
        "appointments.json",
        "otp.json",
        "notifier.json",
        "analytics.json",
        "coverage.json",
        "meetings.json",
        "reports.json",
    }
    uids = [b["uid"] for b in dashboards().values()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("name", sorted(dashboards()))
def test_every_panel_reads_the_chosen_data_source_and_only_defined_variables(name):
    board = dashboards()[name]
    variables = {v["name"] for v in board["templating"]["list"]} | {
        "__rate_interval",
        "__interval",
        "__range",
    }
    assert "datasource" in variables
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for ref in [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]:
            assert ref == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for expr in [t["expr"] for t in panel["targets"]] + [panel["title"]]:
            used = {a or b for a, b in re.findall(r"\$\{(\w+)\}|\$(\w+)", expr)}
            assert used <= variables, f"{panel['title']}: undefined {used - variables}"


def defined_series_names() -> set[str]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, [""])}
    return names


def test_every_metric_a_panel_or_alert_reads_is_defined_by_the_services():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    queries = [e for b in dashboards().values() for e in exprs(b)] + [
        r["expr"] for g in rules for r in g["rules"]
    ]
    used = {name for q in queries for name in re.findall(r"\bsangathan_[a-z0-9_]+", q)}
    assert len(used) > 30
    assert used - defined_series_names() == set()


def test_provisioning_points_grafana_at_prometheus_and_the_dashboards_folder():
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/sangathan.yml").read_text())[
        "datasources"
    ]
    assert [d["type"] for d in datasources] == ["prometheus"]
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/sangathan.yml").read_text())[
        "providers"
    ]
    assert [p["type"] for p in providers] == ["file"] and providers[0]["options"]["path"]
