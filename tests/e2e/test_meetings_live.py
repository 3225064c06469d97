"""A meeting held through the running platform: a state organiser's audio meeting for a district's
booth presidents (appointed and OTP-verified by tests/e2e/test_notifier_directive.py) starts at
the provider simulator on 8005, the simulated calls ring, answer and join, the organiser reads
attendance per assembly and per mandal while it runs, ends it, and every leg's leave is told on
Kafka with the meeting's totals; another state's organiser sees none of it.

Meetings may not start in quiet hours, so the meeting is scheduled for tomorrow evening and then
brought forward in its document, as the clock would: the platform's own start job takes it from
there."""

import os
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from pymongo import MongoClient

from meetings.conference import call_ref
from meetings.settings import MeetingsSettings
from shared import topics
from shared.events import types
from simulator.conference import fate_of
from simulator.handlers import conference_rules
from simulator.settings import SimulatorSettings
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.e2e.test_meetings_flow import MEETINGS, meeting_body, schedule, state_organiser
from tests.e2e.test_notifier_directive import DISTRICT, presidents  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e
ANALYTICS = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004")


def meetings_collection():
    settings = MeetingsSettings()
    client = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000)
    return client, client[settings.mongo_db][f"{settings.collection_prefix}meetings"]


def invited(meeting_id: str) -> bool:
    client, meetings = meetings_collection()
    with client:
        doc = meetings.find_one({"_id": meeting_id}, {"jobs": 1})
    return bool(doc and doc["jobs"]["invite"].get("done_at"))


def bring_forward(meeting_id: str) -> None:
    """Due now: what the clock does by tomorrow evening, done at once."""
    now = datetime.now(timezone.utc)
    client, meetings = meetings_collection()
    with client:
        meetings.update_one(
            {"_id": meeting_id},
            {
                "$set": {
                    "starts_at": now - timedelta(seconds=1),
                    "ends_at": now + timedelta(minutes=30),
                }
            },
        )


def reach(meeting_id: str, unit: str) -> dict:
    """What HQ's dashboard shows of the meeting: the analytics worker's count of its events."""
    answer = httpx.get(
        f"{ANALYTICS}/meetings/{meeting_id}/reach",
        params={"unit": unit},
        headers=state_organiser(),
        timeout=10,
    )
    return answer.json() if answer.status_code == 200 else {}


def attendance(meeting_id: str, unit: str | None = None, headers: dict | None = None):
    return httpx.get(
        f"{MEETINGS}/v1/meetings/{meeting_id}/attendance",
        params={"unit": unit} if unit else {},
        headers=headers or state_organiser(),
        timeout=10,
    )


def first_call_answered(meeting_id: str, participant: str) -> bool:
    """What the platform's simulator (its settings as `make up` starts it) does with the first
    call to this invitee."""
    rules = conference_rules(SimulatorSettings())
    return fate_of(call_ref(meeting_id, participant, 1), rules).outcome == "answered"


@pytest.fixture
def meeting_tails(kafka_bootstrap):
    tails = (
        TopicTail(kafka_bootstrap, topics.MEETINGS.name),
        TopicTail(kafka_bootstrap, topics.MEETING_ATTENDANCE.name),
    )
    yield tails
    for tail in tails:
        tail.close()


def test_an_audio_meeting_for_a_districts_presidents_is_held_and_counted_per_mandal_as_it_runs(
    presidents,  # noqa: F811
    meeting_tails,
):
    meetings_tail, attendance_tail = meeting_tails
    answer = schedule(meeting_body())
    assert answer.status_code == 202, answer.text
    meeting_id = answer.json()["meetings"][0]["meeting_id"]
    wait_until(lambda: invited(meeting_id), 60)
    bring_forward(meeting_id)

    [started] = meetings_tail.wait_until(
        lambda e: e.type == types.MEETING_STARTED and e.data["meeting_id"] == meeting_id,
        timeout=60,
    )
    assert started.data["bridges"] == 2  # the speaker bridge and one listeners' bridge
    ours = {appointment for _, appointment, _ in presidents}
    # The district holds other tests' presidents too, so its totals cannot say ours joined; the
    # simulator decides each call by its ref, so which of ours answer the first call is known.
    answering = {p for p in ours if first_call_answered(meeting_id, p)}
    assert answering, "no president's first call is answered: the simulator's shares changed?"
    joined = attendance_tail.ids_until(
        lambda e: e.type == types.PARTICIPANT_JOINED and e.data["meeting_id"] == meeting_id,
        answering,
        key="participant_id",
        timeout=60,
    )
    assert answering <= joined
    # Counters are written from each pod's tally every half second: within 2 s of the event.
    wait_until(
        lambda: attendance(meeting_id, unit=DISTRICT).json()["totals"]["joined"] >= len(answering),
        5,
    )
    report = attendance(meeting_id, unit=DISTRICT).json()
    assert report["state"] == "started"
    assert report["totals"]["invited"] >= len(ours)
    assert report["totals"]["joined"] >= len(answering)
    for booth, appointment, _ in presidents:
        assembly, mandal = "-".join(booth.split("-")[:4]), "-".join(booth.split("-")[:5])

        def row(assembly=assembly, mandal=mandal):
            units = attendance(meeting_id, unit=assembly).json()["units"]
            return next(u for u in units if u["unit_id"] == mandal)

        assert row()["invited"] >= 1
        if appointment in answering:  # each unit's counter is a write of its own: within 2 s too
            wait_until(lambda: row()["rang"] >= 1 and row()["joined"] >= 1, 5)
    assert attendance(meeting_id, headers=state_organiser("IN-MP")).status_code == 404

    # The same attendance reaches analytics over Kafka while the meeting runs, per mandal too.
    wait_until(
        lambda: reach(meeting_id, DISTRICT).get("totals", {}).get("joined", 0) >= len(answering),
        60,
    )
    for booth, appointment, _ in presidents:
        assembly, mandal = "-".join(booth.split("-")[:4]), "-".join(booth.split("-")[:5])
        row = next(u for u in reach(meeting_id, assembly)["units"] if u["unit_id"] == mandal)
        assert row["invited"] >= 1 and row["joined"] >= (appointment in answering)

    ended = httpx.post(
        f"{MEETINGS}/v1/meetings/{meeting_id}/end", headers=state_organiser(), timeout=10
    )
    assert ended.status_code == 204, ended.text
    [closing] = meetings_tail.wait_until(
        lambda e: e.type == types.MEETING_ENDED and e.data["meeting_id"] == meeting_id,
        timeout=60,
    )
    assert closing.data["joined"] >= len(answering)
    left = attendance_tail.ids_until(
        lambda e: e.type == types.PARTICIPANT_LEFT and e.data["meeting_id"] == meeting_id,
        answering,
        key="participant_id",
        timeout=30,
    )
    assert answering <= left  # early leavers before the end, the rest when it ended
    assert attendance(meeting_id, unit=DISTRICT).json()["state"] == "ended"

    def counted_as_held() -> bool:
        coverage = httpx.get(f"{ANALYTICS}/coverage/IN-HP", headers=state_organiser(), timeout=10)
        return coverage.status_code == 200 and coverage.json()["meetings"]["held"] >= 1

    wait_until(lambda: reach(meeting_id, DISTRICT).get("state") == "ended", 60)
    wait_until(counted_as_held, 60)
