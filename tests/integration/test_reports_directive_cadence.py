"""A report tied to a directive as its pre- or post-plan feedback, against a real notifier and the
real FerretDB: the directive's scheduled time is read from the notifier with the dispatcher's own
token, and the round is made when that time less or plus the offset comes; a dispatcher the
directive is not visible to is refused; a recurring directive gets a round per occurrence."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient

from reports import handlers
from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from shared.sending.policy import IST
from tests.e2e.test_reports_flow import DAILY
from tests.integration.test_notifier_flow import start_stack, stop_stack

pytestmark = pytest.mark.integration

STATE, DISTRICT = "IN-HP", "IN-HP-D06"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("reports-directive-cadence"))
    yield running
    stop_stack(running)


@pytest.fixture
def reports(stack, mongo_db, org_registry):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    adapters = bootstrap(ReportsSettings(NOTIFIER_URL=stack.notifier), db=mongo_db)
    # No `with`: the background jobs stay off; the test turns the scheduler's clock itself.
    return adapters, TestClient(create_reports_app(adapters))


def directive_at(stack, headers, send_at: datetime, recurrence: dict | None = None) -> str:
    body = {
        "title": {"en": "Booth meetings on Sunday", "hi": "रविवार को बूथ बैठकें"},
        "body": {"en": "Hold a booth meeting.", "hi": "बूथ बैठक करें।"},
        "scope": [DISTRICT],
        "audience": ["booth_president"],
        "channels": ["sms"],
        "send_at": send_at.isoformat(),
        "expires_at": (send_at + timedelta(days=1 if recurrence is None else 4)).isoformat(),
    }
    if recurrence is not None:
        body["recurrence"] = recurrence
    issued = httpx.post(f"{stack.notifier}/v1/directives", json=body, headers=headers, timeout=30)
    assert issued.status_code == 201, issued.text
    return issued.json()["directive_id"]


def form(api, headers) -> str:
    form_id = api.post("/v1/forms", json=DAILY, headers=headers).json()["form_id"]
    assert api.post(f"/v1/forms/{form_id}/publish", headers=headers).status_code == 200
    return form_id


def tied(api, headers, form_id, directive_id, cadence, offset_h):
    body = {
        "form_id": form_id,
        "scope": [DISTRICT],
        "audience": ["booth_president"],
        "cadence": cadence,
        "directive_id": directive_id,
        "offset_h": offset_h,
        "due_after_h": 6,
        "remind_before_h": 1,
    }
    return api.post("/v1/dispatches", json=body, headers=headers)


@pytest.mark.parametrize(
    ("cadence", "offset"), [("after_directive", 1.0), ("before_directive", -2.0)]
)
def test_a_directive_tied_round_is_made_at_the_directives_time_and_offset(
    stack, reports, organiser_token, cadence, offset
):
    adapters, api = reports
    state = organiser_token(STATE, sub="user-hp")
    at = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(microsecond=0)
    directive_id = directive_at(stack, state, at)
    made = tied(api, state, form(api, state), directive_id, cadence, abs(offset))
    assert made.status_code == 201, made.text
    assert (made.json()["cadence"], made.json()["rounds"]) == (cadence, [])

    send_at = at + timedelta(hours=offset)
    ports = adapters.ports
    ports.clock = lambda: send_at - timedelta(seconds=1)
    assert handlers.open_due_rounds(ports) == 0
    ports.clock = lambda: send_at + timedelta(seconds=1)
    assert handlers.open_due_rounds(ports) == 1
    [round_] = list(adapters.db.report_rounds.find({"plan_id": made.json()["plan_id"]}))
    assert datetime.fromisoformat(round_["send_at"]) == send_at
    assert handlers.open_due_rounds(ports) == 0  # made once


def test_a_directive_the_dispatcher_cannot_see_is_refused(stack, reports, organiser_token):
    _, api = reports
    state = organiser_token(STATE, sub="user-hp")
    at = datetime.now(timezone.utc) + timedelta(hours=3)
    directive_id = directive_at(stack, state, at)
    district = organiser_token(DISTRICT, sub="user-hp-d06")
    refused = tied(api, district, form(api, state), directive_id, "after_directive", 1)
    assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (
        403,
        "outside-jurisdiction",
    )
    unknown = tied(
        api, state, form(api, state), "0b7e1f4a-3c2d-4e5f-8a9b-1c2d3e4f5a6b", "after_directive", 1
    )
    assert unknown.status_code == 404


def test_a_recurring_directive_gets_a_round_per_occurrence_and_a_cancelled_one_is_refused(
    stack, reports, organiser_token
):
    adapters, api = reports
    state = organiser_token(STATE, sub="user-hp")
    tomorrow = datetime.now(timezone.utc).astimezone(IST).date() + timedelta(days=1)
    send_at = datetime.combine(tomorrow, time(10, 0), IST)
    directive_id = directive_at(
        stack,
        state,
        send_at,
        recurrence={
            "rrule": "FREQ=DAILY;BYHOUR=12",
            "timezone": "Asia/Kolkata",
            "until": (send_at + timedelta(days=2, hours=3)).isoformat(),
        },
    )
    shown = httpx.get(f"{stack.notifier}/v1/directives/{directive_id}", headers=state, timeout=30)
    assert shown.json()["recurrence"]["rrule"] == "FREQ=DAILY;BYHOUR=12"
    made = tied(api, state, form(api, state), directive_id, "before_directive", 1)
    assert made.status_code == 201, made.text
    plan_id = made.json()["plan_id"]

    ports = adapters.ports
    first = datetime.combine(tomorrow, time(11, 0), IST)  # noon's round, an hour before
    ports.clock = lambda: first - timedelta(seconds=1)
    assert handlers.open_due_rounds(ports) == 0
    ports.clock = lambda: first + timedelta(days=1, seconds=1)
    assert handlers.open_due_rounds(ports) == 2
    ports.clock = lambda: first + timedelta(days=5)
    assert handlers.open_due_rounds(ports) == 1
    assert handlers.open_due_rounds(ports) == 0  # the directive's last occurrence ended the plan
    rounds = sorted(
        adapters.db.report_rounds.find({"plan_id": plan_id}), key=lambda r: r["period_key"]
    )
    assert [(r["period_key"], datetime.fromisoformat(r["send_at"])) for r in rounds] == [
        ((first + timedelta(days=n)).date().isoformat(), first + timedelta(days=n))
        for n in range(3)
    ]

    cancelled = httpx.post(
        f"{stack.notifier}/v1/directives/{directive_id}/cancel", headers=state, timeout=30
    )
    assert cancelled.status_code == 200, cancelled.text
    refused = tied(api, state, form(api, state), directive_id, "after_directive", 1)
    assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (
        409,
        "directive-cancelled",
    )
