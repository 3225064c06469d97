"""FerretDB SIGKILLed while booths answer a round: every answer is a 201 or a 503 problem with
Retry-After within 10 s (no hang, no 500), whether the service took it on its event loop or in a
thread; every answer taken (201) is stored and its report-submitted is on Kafka once FerretDB is
back."""

import threading
import time
import uuid

import httpx
import pytest

from shared.events import types
from shared.topics import REPORT_SUBMISSIONS
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.faults.conftest import NO_HANG_S, assert_outage_problem, figure, killed, timed

pytestmark = pytest.mark.faults

REPORTS = "http://127.0.0.1:8008"
STATE, DISTRICT = "IN-HP", "IN-HP-D11"
DAILY_FORM = "2b1f0c7e-4d3a-4f5b-9c8e-1a0d2e3f4b5c"  # services/reports/reports/forms/daily_feedback
ANSWERS = {"mood": "good", "meeting_held": True, "attendees": 12, "raised_issue": False}


def test_with_ferretdb_killed_answers_are_taken_or_503_in_time_and_none_taken_is_lost(
    organiser_token, org_registry, kafka_bootstrap
):
    state = organiser_token(STATE, sub="user-faults-hp")
    district = organiser_token(DISTRICT, sub="user-faults-d11")
    booths = iter(sorted(org_registry.booth_ids_under(DISTRICT)))
    body = {"form_id": DAILY_FORM, "scope": [DISTRICT], "audience": ["booth_president"]}
    made = httpx.post(f"{REPORTS}/v1/dispatches", json=body, headers=state, timeout=15)
    assert made.status_code == 201, made.text
    url = f"{REPORTS}/v1/dispatches/{made.json()['rounds'][0]['dispatch_id']}/submissions"
    tail = TopicTail(kafka_bootstrap, REPORT_SUBMISSIONS.name)
    answers: list[tuple[str, str, httpx.Response, float]] = []
    stop = threading.Event()

    def answering() -> None:  # one booth after another, across the kill and the restart
        for booth in booths:
            if stop.is_set():
                return
            sent = {"submission_id": str(uuid.uuid4()), "booth_id": booth, "answers": ANSWERS}
            response, seconds = timed(
                lambda: httpx.post(url, json=sent, headers=district, timeout=NO_HANG_S + 5)
            )
            answers.append((booth, sent["submission_id"], response, seconds))
            time.sleep(0.2)

    def taken() -> int:
        return sum(r.status_code == 201 for _, _, r, _ in answers)

    writer = threading.Thread(target=answering)
    writer.start()
    try:
        wait_until(lambda: taken() >= 3, 30)  # the round known: answers on the event loop
        with killed("ferretdb"):
            wait_until(lambda: any(r.status_code == 503 for _, _, r, _ in answers), 30)
        after = taken()
        wait_until(lambda: taken() >= after + 3, 60)
    finally:
        stop.set()
        writer.join(60)

    statuses = [r.status_code for _, _, r, _ in answers]
    assert set(statuses) <= {201, 503}, f"no 500, no other answer: {statuses}"
    for _, _, response, seconds in answers:
        if response.status_code == 503:
            assert_outage_problem(response, seconds, "mongodb")
    figure(
        f"slowest of {len(answers)} answers ({statuses.count(503)} were 503)",
        max(s for _, _, _, s in answers),
    )
    accepted = {sid: booth for booth, sid, r, _ in answers if r.status_code == 201}
    for submission_id, booth in accepted.items():
        stored = httpx.get(
            f"{url.rsplit('/', 1)[0]}/booths/{booth}", headers=district, timeout=15
        ).json()
        assert [s["submission_id"] for s in stored["submissions"]] == [submission_id], booth
    published = tail.ids_until(
        lambda e: e.type == types.REPORT_SUBMITTED, set(accepted), key="submission_id", timeout=90
    )
    tail.close()
    assert set(accepted) <= published, f"taken, never on Kafka: {set(accepted) - published}"
