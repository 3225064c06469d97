"""Erasure and retention against the real MongoDB API server and Kafka: after an erasure, every
store appointments keeps (teams, history, posts, the recipient directory, the outbox) is read
raw and holds nothing of the person; the person-erased event goes out; the audit says who asked."""

import random
from datetime import timedelta

import pytest

from appointments import handlers
from appointments.adapters.outbox import OutboxRelay
from appointments.adapters.recipients import RecipientDirectory
from appointments.domain import REVOKED, Person
from shared.events import types
from shared.kafka.producer import EventPublisher
from shared.teams.rules import rules_for
from tests.integration.test_appointments_store import read_all

pytestmark = pytest.mark.integration

BOOTHS = ["IN-HP-D01-A01-M01-S01-B001", "IN-HP-D01-A01-M01-S01-B002", "IN-HP-D02-A01-M01-S01-B001"]
STORES = (
    "booth_teams",
    "president_posts",
    "verified_recipients",
    "outbox_pending",
    "erasure_requests",
)


def someone(name: str) -> Person:
    return Person(name=name, phone=f"+9197{random.randrange(10**8):08d}", gender="female")


@pytest.fixture
def relay(ports, kafka_bootstrap, scratch):
    topic = scratch(partitions=3)
    directory = RecipientDirectory(
        ports.teams.teams.database,
        ports.registry,
        lambda s: rules_for(s).roles,
        ports.teams.personal,
    )
    directory.backfill([])
    publisher = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: topic)
    return OutboxRelay(ports.teams, directory, publisher), directory, topic


def appoint_verified(ports, booth_id: str, person: Person, role: str = "booth_president"):
    appointed = handlers.appoint(
        ports, booth_id=booth_id, role=role, person=person, organiser="user-hp"
    )
    handlers.otp_verified(
        ports,
        event_id=f"e-{appointed.id}",
        booth_id=booth_id,
        appointment_id=appointed.id,
        request_id=appointed.otp_request_id,
    )
    return appointed


def everything(db) -> str:
    return "\n".join(repr(doc) for name in STORES for doc in db[name].find())


def test_erasing_an_appointment_scrubs_the_person_from_every_store_and_tells_consumers(
    ports, mongo_db, relay, kafka_bootstrap
):
    outbox_relay, directory, topic = relay
    person = someone("Savitri Negi")
    appointed = appoint_verified(ports, BOOTHS[0], person)
    outbox_relay.relay_once()
    assert [r["appointment_id"] for r in directory.under(BOOTHS[0], None)] == [appointed.id]

    erasure_id = handlers.erase_appointment(
        ports, booth_id=BOOTHS[0], appointment_id=appointed.id, requested_by="user-hp", unit="IN-HP"
    )
    outbox_relay.relay_once()

    erased = ports.teams.get(BOOTHS[0]).get(appointed.id)
    assert erased.status == REVOKED and erased.erased_at is not None and erased.person.phone == ""
    assert not list(directory.under(BOOTHS[0], None)), "no longer a recipient"
    assert mongo_db.president_posts.count_documents({}) == 0, "the post is free"
    assert ports.teams.personal.index(person.phone) not in everything(mongo_db)
    assert "pd1." not in everything(mongo_db), "not even sealed copies remain"
    audit = mongo_db.erasure_requests.find_one({"_id": erasure_id})
    assert (audit["requested_by"], audit["unit"], audit["reason"], audit["by"]) == (
        "user-hp",
        "IN-HP",
        "request",
        "appointment",
    )
    assert audit["erased"] == [{"booth_id": BOOTHS[0], "appointment_id": appointed.id}]
    events = [e for e in read_all(kafka_bootstrap, topic, 5) if e.type == types.PERSON_ERASED]
    assert [(e.data["appointment_id"], e.data["erasure_id"]) for e in events] == [
        (appointed.id, erasure_id)
    ]
    assert person.phone[3:] not in repr([e.data for e in events])


def test_erasing_by_phone_reaches_only_appointments_inside_the_requesters_unit(ports, mongo_db):
    person = someone("Rekha Sharma")
    inside = handlers.appoint(
        ports, booth_id=BOOTHS[0], role="member", person=person, organiser="user-hp"
    )
    also_inside = handlers.appoint(
        ports, booth_id=BOOTHS[1], role="member", person=person, organiser="user-hp"
    )
    outside = handlers.appoint(
        ports, booth_id=BOOTHS[2], role="member", person=person, organiser="user-hp"
    )

    erasure_id, erased = handlers.erase_person(
        ports, phone=person.phone, requested_by="user-d01", unit="IN-HP-D01"
    )
    assert sorted(erased) == sorted([(BOOTHS[0], inside.id), (BOOTHS[1], also_inside.id)])
    assert ports.teams.get(BOOTHS[2]).get(outside.id).person == person, (
        "another district's data is not theirs"
    )
    assert mongo_db.erasure_requests.find_one({"_id": erasure_id})["by"] == "phone"
    assert person.phone not in repr(mongo_db.erasure_requests.find_one({"_id": erasure_id}))

    _, everywhere = handlers.erase_person(
        ports, phone=person.phone, requested_by="user-hq", unit="IN"
    )
    assert everywhere == [(BOOTHS[2], outside.id)]


def test_the_retention_job_scrubs_people_only_after_the_set_time_since_their_appointment_ended(
    ports, mongo_db
):
    gone, stays, current = (
        someone("Old President"),
        someone("Recent Member"),
        someone("Current President"),
    )
    first = handlers.appoint(
        ports, booth_id=BOOTHS[0], role="booth_president", person=gone, organiser="u"
    )
    handlers.revoke(ports, booth_id=BOOTHS[0], appointment_id=first.id, organiser="u")
    handlers.appoint(
        ports, booth_id=BOOTHS[0], role="booth_president", person=current, organiser="u"
    )
    later = handlers.appoint(ports, booth_id=BOOTHS[1], role="member", person=stays, organiser="u")
    handlers.revoke(ports, booth_id=BOOTHS[1], appointment_id=later.id, organiser="u")

    real_clock = ports.clock
    ended_first = ports.teams.get(BOOTHS[0]).get(first.id).ended_at
    ports.clock = lambda: ended_first + timedelta(days=30, seconds=1)
    mongo_db.booth_teams.update_one(
        {"_id": BOOTHS[1]}, {"$set": {"appointments.0.ended_at": ended_first + timedelta(days=20)}}
    )
    assert handlers.retain(ports, keep=timedelta(days=30)) == 1
    ports.clock = real_clock

    text = everything(mongo_db)
    assert ports.teams.personal.index(gone.phone) not in text
    assert ports.teams.get(BOOTHS[0]).president().person == current, "an active appointee is kept"
    assert ports.teams.get(BOOTHS[1]).get(later.id).person == stays, "ended 10 days before: not yet"
    [audit] = mongo_db.erasure_requests.find()
    assert (audit["requested_by"], audit["reason"]) == ("svc:retention", "retention")
    assert handlers.retain(ports, keep=timedelta(days=30)) == 0, "nothing twice"
