"""The PrometheusRule says what deploy/prometheus/alerts.yml says, in every overlay, with `up`
scoped to our namespace; and the job names the alerts report are the same here as locally."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
sys.path.insert(0, str(K8S))
import check  # noqa: E402
import gen_rules  # noqa: E402

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SCOPE = f'namespace="{gen_rules.NAMESPACE}",'


def rule_resources(overlay: Path) -> list[dict]:
    return [o for o in check.render(overlay) if o["kind"] == "PrometheusRule"]


def test_the_committed_rule_file_is_what_the_generator_writes():
    assert gen_rules.TARGET.read_text(encoding="utf-8") == gen_rules.render(), (
        "regenerate: .venv/bin/python deploy/k8s/gen_rules.py"
    )


@pytest.mark.parametrize("overlay", check.overlays(), ids=lambda p: p.name)
def test_every_overlay_loads_exactly_the_local_rules_with_up_scoped_to_our_namespace(overlay):
    resources = rule_resources(overlay)
    assert [r["metadata"]["namespace"] for r in resources] == [gen_rules.NAMESPACE]
    groups = resources[0]["spec"]["groups"]
    exprs = [str(rule["expr"]) for group in groups for rule in group["rules"]]
    assert all(f"up{{{SCOPE}" in e for e in exprs if re.search(r"\bup\b", e)), (
        "every `up` is ours only"
    )
    unscoped = [
        {**g, "rules": [{**r, "expr": str(r["expr"]).replace(SCOPE, "")} for r in g["rules"]]}
        for g in groups
    ]
    assert unscoped == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]


def test_promtool_accepts_the_generated_rules(tmp_path):
    assert shutil.which("promtool"), (
        "promtool missing: install Debian's prometheus package (make unit does)"
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(
        yaml.safe_dump({"groups": rule_resources(check.OVERLAYS / "prod")[0]["spec"]["groups"]})
    )
    done = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_service_monitors_jobs_are_the_local_jobs_of_the_same_services():
    """A ServiceMonitor's job is the name of the Service it scrapes (no jobLabel), so an alert's
    {{ $labels.job }} and any job="..." in an expression mean the same service in both places."""
    objects = check.render(check.OVERLAYS / "prod")
    services = [o for o in objects if o["kind"] == "Service"]
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert all("jobLabel" not in m["spec"] for m in monitors)
    jobs = {
        s["metadata"]["name"]
        for m in monitors
        for s in services
        if all(
            s["metadata"].get("labels", {}).get(k) == v
            for k, v in m["spec"]["selector"]["matchLabels"].items()
        )
    }
    local = {
        job["job_name"]
        for job in yaml.safe_load(
            (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
        )["scrape_configs"]
    }
    # Locally the notifier runs its channel workers in its own process, and the simulator and
    # Prometheus scrape as themselves; in the cluster the workers are their own Deployment.
    assert jobs == local - {"prometheus", "simulator"} | {"notifier-workers"}
    named = set(re.findall(r'job[!=~]+"([^"]+)"', ALERTS.read_text(encoding="utf-8")))
    assert named and named <= local | jobs, "a job an alert names exists somewhere"


def test_a_store_naming_its_collections_in_a_tuple_needs_a_grant_for_each(tmp_path):
    import rules

    store = tmp_path / "store.py"
    store.write_text(
        'class Offices:\n    COLLECTIONS = ("unit_offices", "unit_offices_dead_letters")\n'
        "    def __init__(self, db, name):\n        self.docs = db[name]\n"
    )
    assert rules._collections_in(store, {}) == {"unit_offices", "unit_offices_dead_letters"}
