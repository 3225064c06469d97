"""Meetings through the running platform, as a new user meets them: booth presidents appointed
and OTP-verified in a Himachal district, the state's organiser schedules an audio meeting for
them, and every one of them is invited (participant-invited on Kafka, no phone in any event),
the meeting announced (meeting-scheduled) and each invitation handed to the notifier's normal lane
with the meeting's PIN; a video meeting gives each invitee a link of their own; a unit of another
state is refused, and so is a meeting at night; an erased appointee's phone leaves their
invitations. The presidents come from the notifier's e2e
module (tests/e2e/test_notifier_directive.py), which appoints them in IN-HP-D09."""

import json
import os
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from meetings import links
from meetings.adapters.keys import link_key
from meetings.settings import MeetingsSettings
from notifier.adapters.lanes import LANE_TOPICS
from shared import topics
from shared.events import types
from testkit import random_suffix
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.e2e.test_notifier_directive import DISTRICT, presidents  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

MEETINGS = os.environ.get("MEETINGS_URL", "http://127.0.0.1:8007")
APPOINTMENTS = os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001")
IST = ZoneInfo("Asia/Kolkata")


def state_organiser(unit: str = "IN-HP") -> dict[str, str]:
    from shared.auth.issuer import organiser_token

    return {"Authorization": f"Bearer {organiser_token(sub=f'user-e2e-{unit}', unit=unit)}"}


def tomorrow_at(hour: int) -> str:
    day = datetime.now(IST).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=IST).isoformat()


def meeting_body(**changes) -> dict:
    body = {
        "kind": "audio_bridge",
        "scope": [DISTRICT],
        "audience": ["booth_president"],
        "title": {"hi": "जिला बूथ अध्यक्ष बैठक", "en": "District booth presidents' meeting"},
        "starts_at": tomorrow_at(18),
        "duration_minutes": 45,
    }
    body.update(changes)
    return body


def schedule(body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{MEETINGS}/v1/meetings",
        json=body,
        headers={**(headers or state_organiser()), "Idempotency-Key": random_suffix()},
        timeout=30,
    )


def lane_messages(
    tail: Consumer, ids: set[str], timeout_s: float = 60, opening: tuple[str, ...] = ("",)
) -> dict[str, dict]:
    """Tasks on the notifier's normal lane for these appointees whose text opens so, by
    appointee."""
    found, deadline = {}, time.monotonic() + timeout_s
    while not ids <= set(found) and time.monotonic() < deadline:
        for record in tail.consume(500, 0.5):
            if not record.error():
                task = json.loads(record.value())
                if task.get("recipient_id") in ids and (task.get("text") or "").startswith(opening):
                    found[task["recipient_id"]] = task
    return found


@pytest.fixture
def normal_lane(kafka_bootstrap):
    """The notifier's normal lane from its current end."""
    topic = LANE_TOPICS["normal"].name
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"t-{random_suffix()}"})
    partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
    ends = {
        p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
    }
    reader.assign([TopicPartition(topic, p, o) for p, o in ends.items()])
    yield reader
    reader.close()


def test_a_state_organiser_invites_a_districts_booth_presidents_to_an_audio_meeting(
    presidents,  # noqa: F811
    kafka_bootstrap,
    normal_lane,
):
    attendance = TopicTail(kafka_bootstrap, topics.MEETING_ATTENDANCE.name)
    announced = TopicTail(kafka_bootstrap, topics.MEETINGS.name)
    try:
        answer = schedule(meeting_body())
        assert answer.status_code == 202, answer.text
        [meeting] = answer.json()["meetings"]
        assert meeting["organiser_unit"] == "IN-HP" and meeting["state"] == "scheduled"
        assert meeting["pin"] and meeting["dial_in_number"]
        ids = {appointment for _, appointment, _ in presidents}
        invited = attendance.wait_until(
            lambda e: (
                e.type == types.PARTICIPANT_INVITED
                and e.data["meeting_id"] == meeting["meeting_id"]
                and e.data["participant_id"] in ids
            ),
            count=len(ids),
            timeout=60,
        )
        scheduled = announced.wait_until(
            lambda e: e.data.get("meeting_id") == meeting["meeting_id"], timeout=30
        )
    finally:
        attendance.close()
        announced.close()
    assert {e.data["participant_id"] for e in invited} == ids
    assert [e.type for e in scheduled] == [types.MEETING_SCHEDULED]
    phones = [phone for _, _, phone in presidents]
    for event in invited + scheduled:
        assert not any(phone in json.dumps(event.data) for phone in phones)
        assert meeting["pin"] not in json.dumps(event.data)
    assert all(e.data["booth_path"]["district"] == DISTRICT for e in invited)

    messages = lane_messages(normal_lane, ids)
    assert set(messages) == ids
    for task in messages.values():
        assert meeting["pin"] in task["text"] and meeting["dial_in_number"] in task["text"]

    def notified() -> bool:
        read = httpx.get(
            f"{MEETINGS}/v1/meetings/{meeting['meeting_id']}", headers=state_organiser(), timeout=10
        ).json()
        return read["jobs"]["notify"]["done_at"] is not None

    wait_until(notified, 30)
    read = httpx.get(
        f"{MEETINGS}/v1/meetings/{meeting['meeting_id']}", headers=state_organiser(), timeout=10
    ).json()
    assert read["jobs"]["invite"]["reached"] >= len(ids)
    listed = httpx.get(
        f"{MEETINGS}/v1/meetings", params={"unit": DISTRICT}, headers=state_organiser(DISTRICT)
    ).json()["meetings"]
    assert meeting["meeting_id"] in {m["meeting_id"] for m in listed}


def test_each_invitee_of_a_video_meeting_gets_a_join_link_of_their_own(
    presidents,  # noqa: F811
    normal_lane,
):
    answer = schedule(meeting_body(kind="video_conference", room="standing"))
    assert answer.status_code == 202, answer.text
    [meeting] = answer.json()["meetings"]
    assert meeting["room_ref"] == "standing-IN-HP" and meeting["pin"] is None
    ids = {appointment for _, appointment, _ in presidents}
    messages = lane_messages(normal_lane, ids)
    key = link_key(MeetingsSettings())
    for appointment, task in messages.items():
        token = task["text"].rsplit("/j/", 1)[1].split()[0]
        claim = links.read(key, token)
        assert (claim.meeting_id, claim.participant_id) == (meeting["meeting_id"], appointment)


def invitee_document(meeting_id: str, appointment: str) -> dict | None:
    from pymongo import MongoClient

    settings = MeetingsSettings()
    with MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000) as client:
        invitees = client[settings.mongo_db][f"{settings.collection_prefix}invitees"]
        return invitees.find_one({"_id": f"{meeting_id}/{appointment}"})


def test_an_erased_appointee_keeps_no_phone_in_their_invitation(presidents):  # noqa: F811
    booth, appointment, phone = presidents[-1]
    [meeting] = schedule(meeting_body(starts_at=tomorrow_at(20))).json()["meetings"]
    wait_until(lambda: invitee_document(meeting["meeting_id"], appointment), 60)
    sealed = invitee_document(meeting["meeting_id"], appointment)["phone"]
    assert sealed.startswith("pd1.") and phone not in sealed

    erasure = {"booth_id": booth, "appointment_id": appointment}
    erased = httpx.post(
        f"{APPOINTMENTS}/erasures", json=erasure, headers=state_organiser(), timeout=30
    )
    assert erased.status_code == 201, erased.text
    wait_until(lambda: "phone" not in invitee_document(meeting["meeting_id"], appointment), 60)


def test_a_state_organiser_is_refused_a_unit_of_another_state():
    answer = schedule(meeting_body(scope=["IN-MP-D07"]))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/outside-jurisdiction")


def test_a_meeting_at_night_is_refused_saying_when_it_may_be_held():
    answer = schedule(meeting_body(starts_at=tomorrow_at(23)))
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["type"].endswith("/outside-sending-window")
    assert datetime.fromisoformat(problem["may_start_at"]).astimezone(IST).hour == 6


def test_a_cancelled_meeting_is_announced_its_invitees_told_and_it_cannot_be_cancelled_again(
    presidents,  # noqa: F811
    kafka_bootstrap,
    normal_lane,
):
    announced = TopicTail(kafka_bootstrap, topics.MEETINGS.name)
    try:
        [meeting] = schedule(meeting_body(starts_at=tomorrow_at(19))).json()["meetings"]
        url = f"{MEETINGS}/v1/meetings/{meeting['meeting_id']}"
        # The last president may be erased by the test above: no invitation, no notice.
        ids = {appointment for _, appointment, _ in presidents[:-1]}
        invitations = lane_messages(normal_lane, ids, opening=("बैठक:", "Meeting:"))
        wait_until(
            lambda: httpx.get(url, headers=state_organiser(), timeout=10).json()["jobs"]["notify"][
                "done_at"
            ],
            30,
        )
        cancelled = httpx.post(f"{url}/cancel", headers=state_organiser(), timeout=10)
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert cancelled.json()["cancel_reason"] == "organiser"
        events = announced.wait_until(
            lambda e: (
                e.type == types.MEETING_CANCELLED and e.data["meeting_id"] == meeting["meeting_id"]
            ),
            timeout=30,
        )
    finally:
        announced.close()
    # At least once: the relay may publish it again, under the same id consumers de-duplicate by.
    assert len({e.id for e in events}) == 1 and events[0].data["reason"] == "organiser"
    told = lane_messages(normal_lane, ids, opening=("रद्द:", "Cancelled:"))
    assert set(told) == set(invitations) == ids
    assert not [t for t in told.values() if meeting["pin"] in t["text"]]
    again = httpx.post(f"{url}/cancel", headers=state_organiser(), timeout=10)
    assert again.status_code == 409
    other_state = httpx.get(url, headers=state_organiser("IN-MP"), timeout=10)
    assert other_state.status_code == 404
