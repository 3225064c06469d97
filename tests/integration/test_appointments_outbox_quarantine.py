"""One event that breaks its contract is set aside, not left to stop the relay: the round goes on,
the booth's other events and every other booth's are published, and the bad one is a dead letter
with its reason (no phone), counted for the alert."""

import random
import uuid

import pytest
from confluent_kafka import Consumer
from prometheus_client import REGISTRY

from appointments import handlers
from appointments.adapters.outbox import OutboxRelay
from appointments.adapters.recipients import RecipientDirectory
from appointments.domain import Person
from shared.events import types
from shared.kafka.producer import EventPublisher
from shared.teams.rules import rules_for

pytestmark = pytest.mark.integration

BOOTHS = ["IN-HP-D01-A01-M01-S01-B004", "IN-HP-D01-A01-M01-S01-B005"]


def person() -> Person:
    return Person(name="Asha Devi", phone=f"+9198{random.randrange(10**8):08d}", gender="female")


def quarantined(event_type: str) -> float:
    return (
        REGISTRY.get_sample_value("sangathan_outbox_events_quarantined_total", {"type": event_type})
        or 0.0
    )


def published_ids(bootstrap: str, topic: str, expected: int) -> set[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    ids: set[str] = set()
    try:
        for _ in range(100):
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                ids.add(dict(message.headers())["ce_id"].decode())
            if len(ids) >= expected:
                break
    finally:
        consumer.close()
    return ids


def test_an_event_that_breaks_its_contract_is_quarantined_and_the_round_goes_on(
    ports, mongo_db, kafka_bootstrap, scratch
):
    topic = scratch(partitions=1)
    directory = RecipientDirectory(
        mongo_db, ports.registry, lambda state: rules_for(state).roles, ports.teams.personal
    )
    directory.backfill([])
    relay = OutboxRelay(
        ports.teams, directory, EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: topic)
    )
    for booth in BOOTHS:
        handlers.appoint(
            ports, booth_id=booth, role="booth_president", person=person(), organiser="user-1"
        )
    # An event recorded before its contract was checked on the way in (an older release's data).
    team = ports.teams.get(BOOTHS[0])
    bad = next(e for e in team.outbox if e["type"] == types.OTP_REQUESTED)
    bad["data"]["locale"] = "hindi"
    ports.teams.save(team)
    good = {e["id"] for b in BOOTHS for e in ports.teams.get(b).outbox} - {bad["id"]}
    before = quarantined(types.OTP_REQUESTED)

    relay.relay_once()

    assert all(not ports.teams.get(b).outbox for b in BOOTHS), "nothing is left to wedge the booth"
    assert published_ids(kafka_bootstrap, topic, len(good)) == good
    letter = mongo_db.outbox_dead_letters.find_one({"_id": bad["id"]})
    assert letter["booth_id"] == BOOTHS[0] and letter["type"] == types.OTP_REQUESTED
    assert "locale" in letter["reason"]
    assert (
        "phone" not in letter["data"]
        and letter["data"]["appointment_id"] == bad["data"]["appointment_id"]
    )
    assert quarantined(types.OTP_REQUESTED) == before + 1
