"""The Prometheus Operator `PrometheusRule` generated from the platform's alert rules,
deploy/prometheus/alerts.yml.

    python deploy/k8s/gen_rules.py     # rewrites deploy/k8s/base/monitoring/prometheus-rule.yaml

alerts.yml stays the one source of truth (the local Prometheus loads it, promtool tests it);
tests/unit/test_k8s_rules.py fails if the committed file is not what this writes. One change is
made for the cluster: `up` is scoped to our namespace. Locally Prometheus scrapes only our
processes, but a cluster's Prometheus scrapes everything (kubelets, nodes, other teams), and
`up{job!="prometheus"} == 0` would page us for all of it. The services' own metrics
(sangathan_*) come only from our pods and need no scope. Job names agree without change: a
ServiceMonitor's job is its Service's name, and each Service is named as the local job is.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "deploy" / "prometheus" / "alerts.yml"
TARGET = Path(__file__).resolve().parent / "base" / "monitoring" / "prometheus-rule.yaml"
NAMESPACE = "sangathan"  # base/kustomization.yaml's namespace
NAME = "sangathan-alerts"
HEADER = (
    "# Generated from deploy/prometheus/alerts.yml by deploy/k8s/gen_rules.py; "
    "do not edit by hand.\n"
)
UP = re.compile(r"\bup\{")


def in_cluster(expr: str) -> str:
    """`up{...}` limited to our namespace's targets (the label the Prometheus Operator sets)."""
    return UP.sub(f'up{{namespace="{NAMESPACE}",', expr)


def prometheus_rule(groups: list[dict]) -> dict:
    groups = [
        {
            **group,
            "rules": [{**rule, "expr": in_cluster(str(rule["expr"]))} for rule in group["rules"]],
        }
        for group in groups
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": NAME},
        "spec": {"groups": groups},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, readable as alerts.yml writes them."""


_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def render() -> str:
    groups = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))["groups"]
    return HEADER + yaml.dump(
        prometheus_rule(groups), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True
    )


def main() -> None:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
