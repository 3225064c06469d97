"""A round's follow-ups against the real FerretDB and a real notifier with its provider simulator
and recipients stand-in: at the reminder time only the booths that have not answered (a rejected
answer counts as none) are reminded, once, though two processes run the job; at the due time each
mandal with silent booths is told once how many and which."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import httpx
import pytest

from reports import commands, handlers
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from shared.auth.issuer import service_token
from testkit.processes import wait_until
from testkit.recipients import appointee
from tests.e2e.test_reports_flow import DAILY
from tests.integration.test_notifier_flow import start_stack, stop_stack
from tests.unit.test_reports_handlers import dispatch as plan

pytestmark = pytest.mark.integration

SECTOR = "IN-HP-D06-A01-M01-S01"
MANDAL = "IN-HP-D06-A01-M01"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(
        tmp_path_factory.mktemp("reports-followups"),
        simulator_env={
            "SIMULATOR_TRANSIENT_FAILURE_SHARE": "0",
            "SIMULATOR_PERMANENT_FAILURE_SHARE": "0",
        },
    )
    yield running
    stop_stack(running)


@pytest.fixture
def workers(stack, mongo_db, org_registry, tmp_path):
    """Two reports processes' follow-up jobs on one store, with the reports service's token."""
    if org_registry.get(SECTOR) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    token = tmp_path / "reports.jwt"
    token.write_text(service_token("reports"))
    settings = ReportsSettings(
        NOTIFIER_URL=stack.notifier,
        REPORTS_RECIPIENTS_URL=stack.env["NOTIFIER_RECIPIENTS_URL"],
        REPORTS_TOKEN_FILE=str(token),
        REPORTS_REMINDER_CHANNEL="sms",
    )
    return [bootstrap(settings, db=mongo_db) for _ in range(2)]


def dispatched_round(adapters, booths: list[str]):
    """A round to the sector's booth presidents, fanned out, with the first booth answered, the
    second answered and rejected."""
    ports = adapters.ports
    form = handlers.handle(commands.DesignForm("IN-HP", "feedback", DAILY), ports)
    handlers.handle(commands.PublishForm("IN-HP", form.form_id, "user-hp"), ports)
    _, [round_] = handlers.handle(plan(form.form_id, scope=(SECTOR,)), ports)
    adapters.rounds.rounds.update_one({"_id": round_.dispatch_id}, {"$set": {"fanout.done": True}})
    for booth in booths[:2]:
        answer = commands.SubmitReport(
            round_.dispatch_id, booth, str(uuid.uuid4()), {"mood": "good"}, "user-hp"
        )
        submission, _ = handlers.handle(answer, ports)
    review = commands.ReviewReport(
        round_.dispatch_id, booths[1], submission.submission_id, "rejected", "other", None, "u"
    )
    handlers.handle(review, ports)
    return round_


def messages_to(stack, to: str) -> list[dict]:
    answer = httpx.get(f"{stack.simulator}/v1/messages", params={"to": to}, timeout=10)
    return answer.json()["messages"]


def run_together(workers, at) -> None:
    for adapters in workers:
        adapters.followups.clock = lambda: at
    threads = [threading.Thread(target=a.followups.once) for a in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def test_at_the_reminder_time_only_silent_booths_are_reminded_once_by_two_workers(
    stack, workers, org_registry
):
    booths = sorted(org_registry.booth_ids_under(SECTOR))
    round_ = dispatched_round(workers[0], booths)
    presidents = {booth: appointee(booth, 0)["phone"] for booth in booths}

    run_together(workers, round_.remind_at - timedelta(seconds=1))  # not yet
    run_together(workers, round_.remind_at + timedelta(seconds=1))
    run_together(workers, round_.remind_at + timedelta(seconds=2))  # already done

    silent = booths[1:]  # the answered one is left out; the rejected one is silent
    wait_until(lambda: all(messages_to(stack, presidents[b]) for b in silent), 60)
    for booth in silent:
        [reminder] = messages_to(stack, presidents[booth])
        assert "Daily booth report" in reminder["text"] or "दैनिक बूथ रिपोर्ट" in reminder["text"]
    assert messages_to(stack, presidents[booths[0]]) == []
    record = workers[0].rounds.rounds.find_one({"_id": round_.dispatch_id})["followups"]
    assert (record["reminded"], record["escalated"]) == (True, [])


def test_at_the_due_time_the_mandal_is_told_once_how_many_booths_are_silent(
    stack, workers, org_registry
):
    booths = sorted(org_registry.booth_ids_under(SECTOR))
    round_ = dispatched_round(workers[0], booths)
    # The mandal's time: the due time, later by as long as quiet hours hold the reminder (a
    # round dispatched between 12:00 and 20:00 IST is reminded in the 22:00-06:00 quiet hours).
    told_at = workers[0].followups.rules.at(round_, "mandal")
    run_together(workers, round_.remind_at + timedelta(seconds=1))
    run_together(workers, told_at + timedelta(seconds=1))
    run_together(workers, told_at + timedelta(seconds=3))

    def told() -> list[dict]:
        return [m for m in messages_to(stack, MANDAL) if round_.period_key in m["text"]]

    wait_until(told, 60)
    time.sleep(2)  # a second word would have arrived by now
    [word] = told()
    silent = booths[1:]  # the round asked the sector's booths; one answered
    assert word["text"].startswith(f"{len(silent)} booth(s) of {MANDAL} have not sent")
    assert all(booth in word["text"] for booth in silent) and booths[0] not in word["text"]
    record = workers[0].rounds.rounds.find_one({"_id": round_.dispatch_id})["followups"]
    assert (record["escalated"], record["finished"]) == (["mandal"], False)
    assert messages_to(stack, MANDAL.rsplit("-", 2)[0]) == []  # the district: not yet
