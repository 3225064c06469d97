"""Kafka stopped mid-way loses nothing: appointments made while the broker is down are accepted,
and every one of their events is on Kafka once the broker is back.

The test runs its own broker (so stopping it disturbs nobody) and its own appointments service
pointed at it and at a scratch database.
"""

import random
import sys

import httpx
import pytest
from confluent_kafka import KafkaException
from pymongo import MongoClient

from shared import topics
from shared.events import types
from shared.orgtree.levels import Unit
from shared.orgtree.repository import OrgRegistry
from shared.topics import ensure_topics
from tests.processes import ROOT, free_port, start_service, wait_until
from tests.topic_tail import TopicTail

sys.path.insert(0, str(ROOT / "deploy/local"))
import stack  # noqa: E402  (the same broker definition `make up` runs)

pytestmark = pytest.mark.integration

MANDAL = "IN-HP-D02-A01-M01"


@pytest.fixture
def broker(tmp_path):
    port = free_port()
    kafka = stack.kafka_component(name=f"kafka-outage-{port}", port=port, controller=free_port(),
                                  home=tmp_path / "kafka", heap="256m")
    kafka.start()
    ensure_topics(f"127.0.0.1:{port}")
    yield kafka
    kafka.stop()


@pytest.fixture
def demo_units(settings, mongo_db):
    """The mandal's booths and their ancestors, copied from the demo tree into the scratch database."""
    units = MongoClient(settings.mongo_url)[settings.mongo_db].org_units
    mandal = units.find_one({"_id": MANDAL})
    if mandal is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    booths = list(units.find({"ancestors": MANDAL, "level": "booth"}).limit(6))
    ancestors = [units.find_one({"_id": a}) for a in booths[0]["ancestors"]]
    sectors = [units.find_one({"_id": b["parent"]}) for b in booths]
    docs = sorted({d["_id"]: d for d in ancestors + sectors + booths}.values(), key=lambda d: d["_id"])
    OrgRegistry(mongo_db).load(Unit(id=d["_id"], **{k: v for k, v in d.items() if k != "_id"}) for d in docs)
    return [b["_id"] for b in booths]


def tail_once_led(bootstrap: str, from_start: bool = False) -> TopicTail:
    """A tail of the appointments topic once the (re)started broker leads its partitions."""
    holder: list[TopicTail] = []

    def attempt() -> bool:
        try:
            holder.append(TopicTail(bootstrap, topics.APPOINTMENTS.name, from_start=from_start))
            return True
        except KafkaException:
            return False

    wait_until(attempt, 30)
    return holder[0]


@pytest.fixture
def appointments(broker, mongo_db, tmp_path):
    """The appointments service, pointed at the test's broker and scratch database."""
    process, base = start_service("appointments", {
        "KAFKA_BOOTSTRAP": f"127.0.0.1:{broker.port}", "MONGO_DB": mongo_db.name,
        "OUTBOX_SWEEP_INTERVAL_S": "5"}, tmp_path)
    yield process, base
    process.stop()


def test_appointments_made_while_kafka_is_down_reach_kafka_when_it_returns(
        broker, demo_units, appointments, mongo_db, organiser_token):
    bootstrap = f"127.0.0.1:{broker.port}"
    service, base = appointments
    headers = organiser_token(MANDAL)
    tail = tail_once_led(bootstrap)
    made = []
    try:
        def appoint(booth: str) -> str:
            body = {"role": "booth_president", "name": "Asha", "phone": f"+9198{random.randrange(10**8):08d}",
                    "gender": "female"}
            response = httpx.post(f"{base}/booths/{booth}/appointments", json=body, headers=headers, timeout=10)
            assert response.status_code == 201, response.text
            return response.json()["id"]

        made += [appoint(b) for b in demo_units[:3]]
        before = tail.wait_until(lambda e: e.data["appointment_id"] in made, count=3, timeout=30)
        assert {e.data["appointment_id"] for e in before} == set(made)

        wait_until(lambda: mongo_db.booth_teams.count_documents({"has_outbox": True}) == 0, 30, service)
        broker.stop()
        made += [appoint(b) for b in demo_units[3:]]  # writes succeed with Kafka down
        pending = [d for d in mongo_db.booth_teams.find({"has_outbox": True})]
        assert {d["_id"] for d in pending} == set(demo_units[3:]), "their events wait in the outbox"

        broker.start()
        tail.close()
        tail = tail_once_led(bootstrap, from_start=True)
        after = tail.ids_until(lambda e: e.type == types.BOOTH_PRESIDENT_APPOINTED, set(made), timeout=60)
        assert after == set(made), "every appointment's event is on Kafka"
        wait_until(lambda: mongo_db.booth_teams.count_documents({"has_outbox": True}) == 0, 30, service)
    finally:
        tail.close()
