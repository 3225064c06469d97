"""A report's follow-ups through the running platform: the state dispatches a report to a
district's booth presidents with a reminder soon (the local platform lets a report fall due in a
minute), one booth answers, and the provider simulator shows a reminder to the presidents of the
silent booths only; at the due time the mandal of each silent booth is told, once, how many of its
booths are silent and which. The presidents come from the notifier's e2e module.

Reminders are campaign messages: run during the quiet hours (22:00-06:00 India time, or the
notifier's NOTIFIER_QUIET_HOURS), the test sees each silent booth's reminder accepted and waiting
in the notifier's ledger until the hours end, reaching nobody, and none queued for the booth that
answered. The mandal is then not told at the due time either: its word waits as long as the
reminder did, so the booths get the hour the round gave them (the dispatch's follow-ups on the API
say when), and the test checks that it has not gone past the due time."""

import os
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from reports.followups import reminder_id
from testkit import random_suffix
from testkit.notifier_ledger import opens_at, queued, steady_window, waiting, waiting_until
from testkit.processes import wait_until
from tests.e2e.test_notifier_directive import DISTRICT, presidents, simulator  # noqa: F401
from tests.e2e.test_reports_flow import DAILY

pytestmark = pytest.mark.e2e

REPORTS = os.environ.get("REPORTS_URL", "http://127.0.0.1:8008")


def organiser(unit: str) -> dict[str, str]:
    from shared.auth.issuer import organiser_token

    return {"Authorization": f"Bearer {organiser_token(sub=f'user-e2e-{unit}', unit=unit)}"}


def messages_to(base: str, to: str) -> list[dict]:
    return httpx.get(f"{base}/v1/messages", params={"to": to}, timeout=10).json()["messages"]


def mentions(message: dict, words: str) -> bool:
    return words in f"{message.get('text')} {message.get('template')}"


def test_the_silent_booths_are_reminded_and_then_their_mandal_is_told(
    simulator,  # noqa: F811
    presidents,  # noqa: F811
    org_registry,
):
    with httpx.Client(base_url=REPORTS, timeout=15) as reports:
        if reports.get("/readyz").status_code != 200:
            pytest.skip("the reports service is not running (make up)")
        booth = presidents[0][0]
        # Not across 22:00 or 06:00 while the test's messages are screened (a few minutes).
        steady_window([b for b, _, _ in presidents], 180)
        title = f"Daily booth report {random_suffix()}"
        form = {**DAILY, "title": {"hi": f"दैनिक रिपोर्ट {title[-8:]}", "en": title}}
        hq, state = organiser("IN"), organiser("IN-HP")
        form_id = reports.post("/v1/forms", json=form, headers=hq).json()["form_id"]
        assert reports.post(f"/v1/forms/{form_id}/publish", headers=hq).status_code == 200
        body = {
            "form_id": form_id,
            "scope": [DISTRICT],
            "audience": ["booth_president"],
            "due_after_h": 1 / 60,  # a minute
            "remind_before_h": 35 / 3600,  # the reminder 25 s after the dispatch
        }
        made = reports.post("/v1/dispatches", json=body, headers=state)
        assert made.status_code == 201, made.text
        dispatch_id = made.json()["rounds"][0]["dispatch_id"]
        answer = {
            "submission_id": str(uuid.uuid4()),
            "booth_id": booth,
            "answers": {"mood": "good"},
        }
        answered = reports.post(
            f"/v1/dispatches/{dispatch_id}/submissions", json=answer, headers=state
        )
        assert answered.status_code == 201, answered.text

    silent = [(b, phone) for b, _, phone in presidents if b != booth]
    answered_phone = presidents[0][2]
    reminders = {b: reminder_id(dispatch_id, appointment) for b, appointment, _ in presidents}
    held = {b: opens for b, _ in silent if (opens := opens_at(b)) is not None}

    def reminded(phone: str) -> list[dict]:
        # Not the round's answer link, which every president got when it opened.
        return [
            m
            for m in messages_to(simulator, phone)
            if mentions(m, title[-8:]) and (mentions(m, "अनुस्मारक") or mentions(m, "reminder"))
        ]

    if held:  # quiet hours: accepted, waiting in the ledger until they end, sent to nobody
        assert len(held) == len(silent), "the quiet hours hold every booth's reminder or none"
        for b, _ in silent:
            at = waiting_until(reminders[b], timeout_s=120)
            assert at == pytest.approx(held[b].timestamp(), abs=1)
        # The notifier accepted each silent booth's reminder, and none for the booth that answered.
        assert queued([reminders[b] for b, _, _ in presidents]) == [
            b != booth for b, _, _ in presidents
        ]
        assert waiting([reminders[booth]]) == {}
    else:
        wait_until(lambda: all(reminded(phone) for _, phone in silent), 120)
        assert all(len(reminded(phone)) == 1 for _, phone in silent)
    assert reminded(answered_phone) == []

    mandals = {b.rsplit("-", 2)[0] for b, _ in silent}

    def told(mandal: str) -> list[dict]:
        return [m for m in messages_to(simulator, mandal) if mentions(m, title)]

    if held:
        mandal_not_told_before_the_reminder(dispatch_id, state, min(held.values()))
        assert not any(told(m) for m in mandals)
        assert set(waiting(list(reminders.values()))) == {reminders[b] for b, _ in silent}
        return
    wait_until(lambda: all(told(m) for m in mandals), 120)
    for mandal in mandals:
        [word] = told(mandal)  # once
        booths = set(org_registry.booth_ids_under(mandal)) - {booth}
        assert word["text"].startswith(f"{len(booths)} booth(s) of {mandal} have not sent")
        assert f"{booth}," not in word["text"] and f"{booth}." not in word["text"]


def mandal_not_told_before_the_reminder(dispatch_id: str, who: dict, reminded_at: datetime):
    """The round's follow-ups on the API: the reminder goes when the quiet hours end, the mandal
    that much after the due time; waited past the due time, the word is still to come."""
    with httpx.Client(base_url=REPORTS, timeout=15) as reports:
        round_ = reports.get(f"/v1/dispatches/{dispatch_id}", headers=who).json()
    due, remind = (datetime.fromisoformat(round_[k]) for k in ("due_at", "remind_at"))
    steps = {s["step"]: s for s in round_["followups"]}
    assert datetime.fromisoformat(steps["remind"]["at"]) == reminded_at
    mandal = steps["mandal"]
    assert datetime.fromisoformat(mandal["at"]) == reminded_at + (due - remind)
    time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 10)  # 5 job runs
    with httpx.Client(base_url=REPORTS, timeout=15) as reports:
        again = reports.get(f"/v1/dispatches/{dispatch_id}", headers=who).json()
    assert {s["step"]: s["done"] for s in again["followups"]}["mandal"] is False
