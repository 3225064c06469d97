"""Inviting a meeting's audience on the real servers: the invitee store on FerretDB and the event
publisher on Kafka (a scratch topic), with the appointments service's recipients in memory. Every
invitee is stored once and announced once per pass, with an id a retried pass repeats, and no
phone in any event."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from meetings import handlers
from meetings.adapters.store import MongoInvitees, MongoMeetings
from meetings.commands import InviteAudience, ScheduleMeeting
from meetings.domain import AUDIO, INVITE, invited_event_id
from shared.crypto.fields import FieldCipher, is_sealed
from shared.events import types
from shared.events.contracts import Event, from_kafka
from shared.kafka.producer import EventPublisher
from tests.conftest import random_suffix
from tests.fakes.meetings import make_ports, recipient

pytestmark = pytest.mark.integration

CIPHER = FieldCipher({"k1": b"i" * 32}, "k1")
PHONE = "+919812345678"  # every recipient's (tests.fakes.meetings.recipient)
DISTRICTS = ["IN-MP-D01", "IN-MP-D02", "IN-MP-D03"]


def audience(per_district: int = 5):
    return [
        recipient(f"{district}-A01-M01-S01-B{n + 1:03d}", str(uuid.uuid4()))
        for district in DISTRICTS
        for n in range(per_district)
    ]


@pytest.fixture
def real_ports(mongo_db, kafka_bootstrap, scratch):
    """The handlers' ports with the real meeting and invitee stores and a real publisher to a
    scratch topic; recipients, registry and messages in memory."""
    topic = scratch(3)
    publisher = EventPublisher(kafka_bootstrap, "/sangathan/meetings", topic_for=lambda _: topic)
    people = audience()
    ports = make_ports(people, batch=4, clock=lambda: datetime.now(timezone.utc))
    ports.meetings = MongoMeetings(mongo_db, "t_", CIPHER)
    ports.invitees = MongoInvitees(mongo_db, "t_", CIPHER)
    ports.events = publisher
    yield ports, people, (kafka_bootstrap, topic), mongo_db
    publisher.close(5)


def scheduled(ports) -> str:
    cmd = ScheduleMeeting(
        organiser="user-mp",
        organiser_unit="IN-MP",
        kind=AUDIO,
        scope=("IN-MP",),
        audience=("booth_president",),
        title={"hi": "बैठक", "en": "Meeting"},
        starts_at=_tomorrow_at(11),
        duration_minutes=60,
        idempotency_key=str(uuid.uuid4()),
    )
    [meeting], _ = handlers.schedule_meeting(cmd, ports)
    return meeting.meeting_id


def _tomorrow_at(hour_ist: int) -> datetime:
    now = datetime.now(timezone.utc)
    day = datetime(now.year, now.month, now.day, tzinfo=timezone.utc) + timedelta(days=1)
    return day + timedelta(hours=hour_ist, minutes=-330)


def invited_on(kafka: tuple[str, str], count: int, timeout: float = 15.0) -> list[Event]:
    """The participant-invited events on the scratch topic (all of them: `count` and more)."""
    bootstrap, topic = kafka
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"r-{random_suffix()}"})
    reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
    records = []
    try:
        for _ in range(int(timeout / 0.5)):
            records += [m for m in reader.consume(100, 0.5) if not m.error()]
            if len(records) >= count:
                break
        records += [m for m in reader.consume(100, 1.0) if not m.error()]  # nothing more
    finally:
        reader.close()
    events = [from_kafka(r.headers(), r.key(), r.value()) for r in records]
    return [e for e in events if e.type == types.PARTICIPANT_INVITED]


def test_every_invitee_is_stored_once_and_announced_with_its_own_id_and_no_phone(real_ports):
    ports, people, kafka, db = real_ports
    meeting_id = scheduled(ports)
    handlers.invite_audience(InviteAudience(meeting_id), ports)

    invited = invited_on(kafka, len(people))
    assert sorted(e.data["participant_id"] for e in invited) == sorted(
        p.appointment_id for p in people
    )
    assert all(e.id == invited_event_id(meeting_id, e.data["participant_id"]) for e in invited)
    assert all(e.subject == e.data["booth_id"] for e in invited)
    assert not any(PHONE in json.dumps(e.data) for e in invited)
    stored = list(db["t_invitees"].find({"meeting_id": meeting_id}))
    assert len(stored) == len(people) and all(is_sealed(d["phone"]) for d in stored)
    progress = ports.meetings.progress(meeting_id)[INVITE]
    assert progress["reached"] == len(people) and progress["done_at"] is not None
    assert ports.meetings.chunks_done(meeting_id, INVITE) == {*DISTRICTS, "speakers"}


def test_a_pass_run_again_repeats_its_event_ids_and_stores_nobody_twice(real_ports):
    ports, people, kafka, db = real_ports
    meeting_id = scheduled(ports)
    handlers.invite_audience(InviteAudience(meeting_id), ports)
    # A process that took the job after a lease lapsed, before the chunks were recorded.
    db["t_meetings"].update_one(
        {"_id": meeting_id}, {"$set": {f"jobs.{INVITE}.chunks": [], f"jobs.{INVITE}.reached": 0}}
    )
    handlers.invite_audience(InviteAudience(meeting_id), ports)

    ids = [e.id for e in invited_on(kafka, 2 * len(people))]
    assert len(ids) == 2 * len(people) and len(set(ids)) == len(people), "the same ids, twice"
    assert db["t_invitees"].count_documents({"meeting_id": meeting_id}) == len(people)
    assert ports.meetings.progress(meeting_id)[INVITE]["reached"] == len(people)
