"""Sending windows and follow-ups against the real servers: during quiet hours a directive waits
for the morning unless an urgent one overrides them (audited); booths that do not acknowledge
get a reminder, and then their sector is told."""

from datetime import datetime, timedelta

import httpx
import pytest
from pymongo import MongoClient

from notifier.domain.directives import OVERRIDE_SCOPE
from shared.auth.issuer import ORGANISER_SCOPES
from shared.sending.policy import IST
from testkit.processes import wait_until
from tests.integration.test_notifier_flow import ack_link, directive_of, start_stack, stop_stack

pytestmark = pytest.mark.integration

SCOPE = ["IN-HP-D02-A01"]
MAY_OVERRIDE = ORGANISER_SCOPES + [OVERRIDE_SCOPE]


def quiet_hours_around_now() -> str:
    """A quiet window that holds now, whatever time the tests run."""
    now = datetime.now(IST)
    return f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(
        tmp_path_factory.mktemp("notifier-policy"),
        simulator_env={
            "SIMULATOR_TRANSIENT_FAILURE_SHARE": "0",
            "SIMULATOR_PERMANENT_FAILURE_SHARE": "0",
        },
        notifier_env={
            "NOTIFIER_QUIET_HOURS": quiet_hours_around_now(),
            "NOTIFIER_REMIND_AFTER_S": "5",
            "NOTIFIER_ESCALATE_AFTER_S": "9",
            "NOTIFIER_FOLLOW_UP_INTERVAL_S": "0.5",
        },
    )
    yield running
    stop_stack(running)


def read(stack, directive_id: str) -> dict:
    return httpx.get(
        f"{stack.notifier}/v1/directives/{directive_id}", headers=stack.organiser(), timeout=10
    ).json()


def test_a_directive_issued_in_quiet_hours_waits_for_the_window(stack):
    directive_id = stack.issue(scope=SCOPE).json()["directive_id"]
    wait_until(lambda: read(stack, directive_id)["state"] == "scheduled", 20)
    assert stack.status(directive_id)["total"]["targeted"] == 0
    assert not stack.accepted_for(directive_id)


@pytest.mark.parametrize(
    ("unit", "sub", "scopes"),
    [
        ("IN-HP-D02", "user-hp-d02", MAY_OVERRIDE),  # a district, even holding the scope
        ("IN-HP", "user-hp-plain", ORGANISER_SCOPES),  # a state, without the override's own scope
    ],
)
def test_only_hq_or_a_state_holding_its_scope_may_lift_quiet_hours_and_a_refusal_is_audited(
    stack, unit, sub, scopes
):
    reason = "Want it out tonight"
    refused = stack.issue(
        unit=unit,
        sub=sub,
        scopes=scopes,
        scope=SCOPE,
        priority="urgent",
        channels=["whatsapp"],
        quiet_hours_override={"reason": reason},
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/override-forbidden")
    db = MongoClient(stack.settings.mongo_url)[stack.settings.mongo_db]
    [audit] = list(
        db[f"{stack.ns}_audit"].find({"actor": sub, "action": "quiet-hours-override-refused"})
    )
    assert (audit["reason"], audit["unit"]) == (reason, unit)


def test_an_urgent_override_goes_out_at_once_is_audited_and_unacknowledged_booths_get_reminded_then_escalated(  # noqa: E501
    stack,
):
    reason = "Flood warning: booths must move voter slips tonight"
    created = stack.issue(
        scope=SCOPE,
        priority="urgent",
        channels=["whatsapp"],
        scopes=MAY_OVERRIDE,
        quiet_hours_override={"reason": reason},
    )
    assert created.status_code == 201, created.text
    directive_id = created.json()["directive_id"]
    assert created.json()["quiet_hours_override"] == {"reason": reason, "by": "user-hp"}
    done = stack.wait_for(
        directive_id,
        lambda s: (
            s["state"] == "sent"
            and s["total"]["targeted"] > 0
            and s["total"]["sent"] == s["total"]["targeted"]
        ),
        timeout_s=30,
    )
    targeted = done["total"]["targeted"]
    first = stack.accepted_for(directive_id)
    acked = first[0]
    assert httpx.post(ack_link(acked), timeout=10).json()["already"] is False

    db = MongoClient(stack.settings.mongo_url)[stack.settings.mongo_db]
    [audit] = list(db[f"{stack.ns}_audit"].find({"subject": directive_id}))
    assert (audit["action"], audit["actor"], audit["reason"]) == (
        "quiet-hours-override",
        "user-hp",
        reason,
    )

    def reminders() -> list[dict]:
        return [
            m
            for m in stack.messages(channel="whatsapp")
            if m["template"]["name"] == "reminder_v1" and directive_of(stack, m) == directive_id
        ]

    wait_until(lambda: len(reminders()) == targeted - 1, 30)
    assert acked["to"] not in {m["to"] for m in reminders()}, (
        "the booth that acknowledged is not reminded"
    )

    wait_until(lambda: stack.status(directive_id)["follow_ups"]["escalations"], 30)
    silent = stack.status(directive_id)["follow_ups"]["escalations"]
    assert sum(silent.values()) == targeted - 1
    assert all(sector.startswith(SCOPE[0] + "-") and sector.count("-") == 5 for sector in silent)

    def told() -> dict[str, str]:  # the organisation app's webhook, by unit
        return {
            m["to"]: m["text"]
            for m in stack.messages(channel="app_push")
            if m["sender"] == "sangathan-app-webhook"
        }

    wait_until(lambda: set(silent) <= set(told()), 20)
    sector, booths = next(iter(silent.items()))
    assert told()[sector].startswith(f"{booths} booth(s) of {sector} have not acknowledged")
