"""deploy/prometheus: the scrape config covers every process `make up` starts, and the alert rules
are valid and fire (or stay quiet) as their promtool unit tests say. promtool is Debian's
`prometheus` package, which `make up` / `make test` install."""

import shutil
import subprocess
import sys

import pytest
import yaml

from testkit.processes import ROOT

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which("promtool"), (
        "promtool missing: install Debian's prometheus package (make up does)"
    )
    return subprocess.run(
        ["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts.test.yml"),
    ],
    ids=" ".join,
)
def test_promtool_accepts_the_config_the_rules_and_the_rule_unit_tests(args):
    done = promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def scrape_targets() -> dict[str, list[str]]:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


def test_every_process_make_up_starts_is_scraped_on_its_port_under_its_own_name():
    expected = {c.name: [f"127.0.0.1:{c.port}"] for c in stack.services()}
    assert scrape_targets() == expected | {"dashboard": ["127.0.0.1:8006"]}


def test_every_alert_says_how_bad_and_what_happened():
    rules = [
        r
        for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
    ]
    alerts = [r for r in rules if "alert" in r]
    assert alerts
    for alert in alerts:
        assert alert["alert"].startswith("Sangathan")
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert[
            "alert"
        ]


def test_every_alert_has_a_promtool_unit_test():
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    tested = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {
        r["alert"]
        for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert alerts - tested == set(), "alerts never shown to fire in alerts.test.yml"
