"""Operations through the running platform's Prometheus: after a short scripted workload, every
Grafana panel's query returns data, every alert and recording rule parses and evaluates without
error, and every process of the platform is a target that is up.

The workload: a booth president appointed, a wrong code tried, then verified; a second one's
code re-requested at once (refused by the resend cooldown); a directive to the district's booth
presidents; an audio meeting of the district with its attendance (one invitee answers, joins,
confirms and leaves, one is busy); unreadable records on two topics, so that dead letters exist.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import yaml
from confluent_kafka import Producer

from shared import topics
from shared.sending.policy import SendingPolicy
from testkit.processes import ROOT, wait_until

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402  the processes `make up` runs (deploy/local/stack.py)

pytestmark = pytest.mark.e2e

PROMETHEUS = f"http://127.0.0.1:{stack.PROMETHEUS_PORT}"
APPOINTMENTS = f"http://127.0.0.1:{stack.SERVICE_PORTS['appointments']}"
OTP = f"http://127.0.0.1:{stack.SERVICE_PORTS['otp']}"
NOTIFIER = f"http://127.0.0.1:{stack.SERVICE_PORTS['notifier']}"
DISTRICT = "IN-HP-D11"
STATE = "IN-HP"
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RULES = ROOT / "deploy/prometheus/alerts.yml"
# What Grafana puts in place of its built-in variables
# (the values do not matter, only that they parse).
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


# --- the workload ---------------------------------------------------------------------------------


def organiser(unit: str) -> dict[str, str]:
    from notifier.domain.directives import OVERRIDE_SCOPE
    from shared.auth.issuer import ORGANISER_SCOPES, organiser_token

    # A state's organiser may lift quiet hours (when the tests run at night); a district's may not.
    token = organiser_token(
        sub="user-e2e-ops", unit=unit, scopes=ORGANISER_SCOPES + [OVERRIDE_SCOPE]
    )
    return {"Authorization": f"Bearer {token}"}


def empty_booth(headers: dict) -> str:
    unit = DISTRICT
    while unit.count("-") < 6:
        unit = random.choice(
            httpx.get(f"{APPOINTMENTS}/units/{unit}", timeout=10).json()["children"]
        )["id"]
    for member in httpx.get(
        f"{APPOINTMENTS}/booths/{unit}/team", headers=headers, timeout=10
    ).json()["members"]:
        httpx.delete(
            f"{APPOINTMENTS}/booths/{unit}/appointments/{member['id']}", headers=headers, timeout=10
        )
    return unit


def appoint_president(booth: str, headers: dict) -> str:
    created = httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments",
        headers=headers,
        timeout=10,
        json={
            "role": "booth_president",
            "name": "सुनीता देवी",
            "gender": "female",
            "phone": f"+919{secrets.randbelow(10**9):09d}",
        },
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def code_for(appointment_id: str) -> str:
    found: list = []

    def delivered() -> bool:
        found[:] = httpx.get(
            f"{OTP}/v1/dev/deliveries", params={"appointment_id": appointment_id}, timeout=10
        ).json()["deliveries"]
        return bool(found)

    wait_until(delivered, 30)
    return found[0]["code"]


def verify(booth: str, appointment_id: str, code: str, headers: dict) -> httpx.Response:
    return httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments/{appointment_id}/verification",
        json={"code": code},
        headers=headers,
        timeout=10,
    )


def directive(scope: str) -> dict:
    body = {
        "title": {"en": "Operations check", "hi": "संचालन जाँच"},
        "body": {"en": "Please confirm you received this.", "hi": "कृपया पुष्टि करें।"},
        "scope": [scope],
        "audience": ["booth_president"],
        "channels": ["whatsapp", "sms"],
        "priority": "normal",
        "expires_at": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
    }
    if SendingPolicy().opens_at(datetime.now(timezone.utc), campaign=True, booth_id=""):
        # Quiet hours: only an urgent directive with an (audited) override goes now.
        body.update(
            priority="urgent",
            quiet_hours_override={"reason": "operations test run during quiet hours"},
        )
    return body


def audio_meeting() -> None:
    """As the meetings service publishes one, from scheduled to ended."""
    from testkit.attendance import Meeting
    from tests.e2e.test_dashboard_browser import booth, publish_meeting_events

    booths = httpx.get(f"{APPOINTMENTS}/units/{DISTRICT}/booths", timeout=10).json()["booths"]
    meeting = Meeting(DISTRICT, [DISTRICT])
    present, busy = (meeting.invitee(booth(b)) for b in random.sample(booths, 2))
    publish_meeting_events(
        meeting.scheduled(),
        meeting.started(invited=2),
        busy.invited(),
        busy.called("busy"),
        *present.attended(90),
        meeting.ended(),
    )


def unreadable_records(bootstrap: str) -> None:
    """Not CloudEvents at all: the otp, notifier and analytics consumers dead-letter them."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for topic in (topics.OTP_REQUESTS.name, topics.DIRECTIVES.name):
        producer.produce(topic, b"not an event", b"ops-test")
    assert producer.flush(10) == 0


@pytest.fixture(scope="module")
def workload():
    from shared.settings import PlatformSettings

    headers = organiser(DISTRICT)
    booth = empty_booth(headers)
    president = appoint_president(booth, headers)
    code = code_for(president)
    wrong = verify(booth, president, f"{(int(code) + 1) % 1_000_000:06d}", headers)
    assert wrong.status_code == 422, wrong.text
    assert verify(booth, president, code, headers).status_code in (200, 202)

    other = empty_booth(headers)
    pending = appoint_president(other, headers)
    code_for(pending)
    resent = httpx.post(
        f"{APPOINTMENTS}/booths/{other}/appointments/{pending}/otp", headers=headers, timeout=10
    )
    assert resent.status_code == 202, resent.text  # the OTP service then refuses it: cooldown

    sent = httpx.post(
        f"{NOTIFIER}/v1/directives", json=directive(DISTRICT), headers=organiser(STATE), timeout=30
    )
    assert sent.status_code == 201, sent.text
    audio_meeting()
    unreadable_records(PlatformSettings().kafka_bootstrap)


# --- Prometheus -----------------------------------------------------------------------------------


def keep_trying(condition, timeout_s: float, pause_s: float = 2.0) -> None:
    """Until the condition holds or the time is up; the caller's assertion then says what is
    missing."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(pause_s)


def prometheus(path: str, **params) -> dict:
    answer = httpx.get(f"{PROMETHEUS}/api/v1/{path}", params=params, timeout=15)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "success", f"{path} {params}: {body}"
    return body["data"]


def query(expr: str) -> list:
    return prometheus("query", query=expr)["result"]


@pytest.fixture(scope="module")
def loaded_prometheus():
    """The platform's Prometheus, re-reading deploy/prometheus
    (in case the files changed since it started)."""
    assert httpx.post(f"{PROMETHEUS}/-/reload", timeout=15).status_code == 200
    return PROMETHEUS


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, query) for every target of every panel of every dashboard."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append((path.stem, f"{panel['title']} [{target['refId']}]", target["expr"]))
    return found


def variable_values() -> dict[str, str]:
    """A real value for each dashboard variable, from the query Grafana would run (label_values):
    the workload's state where the variable lists it (with the national tree loaded it lists
    every state, most without a deadline set), else the first."""
    values = dict(BUILTINS)
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] != "query":
                continue
            metric, label = re.fullmatch(
                r"label_values\((\w+), *(\w+)\)", variable["definition"]
            ).groups()
            seen = sorted(
                {
                    series[label]
                    for series in prometheus("series", **{"match[]": metric})
                    if label in series
                }
            )
            assert seen, f"variable ${variable['name']} of {path.name} has no values"
            values[variable["name"]] = STATE if STATE in seen else seen[0]
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


def test_every_process_of_the_platform_is_a_target_that_is_up(loaded_prometheus):
    expected = {
        c.name for c in stack.services()
    }  # the services, the simulator and Prometheus itself
    health: dict[str, str] = {}

    def all_up() -> bool:
        health.clear()
        health.update(
            {
                t["labels"]["job"]: t["health"]
                for t in prometheus("targets", state="active")["activeTargets"]
            }
        )
        return all(health.get(job) == "up" for job in expected)

    keep_trying(all_up, 60)
    assert {job: health.get(job) for job in expected} == {job: "up" for job in expected}


def test_every_dashboard_panel_returns_data_after_a_short_workload(loaded_prometheus, workload):
    assert len(DASHBOARDS) >= 6
    empty: list[str] = []

    def all_have_data() -> bool:
        values = variable_values()
        empty[:] = [
            f"{board} / {title}: {substitute(expr, values)}"
            for board, title, expr in panel_queries()
            if not query(substitute(expr, values))
        ]
        return not empty

    keep_trying(
        all_have_data, 120
    )  # counters appear as the workload's events go through, then get scraped
    assert empty == [], "panels with no data:\n" + "\n".join(empty)


def test_every_alert_and_recording_rule_parses_and_evaluates_without_error(loaded_prometheus):
    rules = rule_expressions()
    assert {name for name, _ in rules} >= {
        "SangathanServiceDown",
        "SangathanConsumerLagGrowing",
        "SangathanDeadLetters",
        "SangathanOtpFailureSpike",
        "SangathanDeliveryFailureRate",
        "SangathanOutboxBacklog",
    }
    for _, expr in rules:
        query(expr)  # a parse or evaluation error fails here, with Prometheus's message

    loaded: dict[str, str] = {}

    def evaluated() -> bool:
        loaded.clear()
        loaded.update(
            {
                rule["name"]: rule["health"]
                for group in prometheus("rules")["groups"]
                for rule in group["rules"]
            }
        )
        return all(loaded.get(name) == "ok" for name, _ in rules)

    keep_trying(evaluated, 30)  # "unknown" until the first evaluation after the reload
    assert loaded == {name: "ok" for name, _ in rules}
