"""A unit's office-bearers on the real MongoDB API server and Kafka: a mandal president kept in
`unit_offices` like a booth team (sealed, compare-and-set), verified by the OTP result the booth
teams' consumer handles, published by the offices' relay with no phone, filed in the recipient
directory at their own booth, and erased like a booth appointee."""

import json
import random
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import REGISTRY

from appointments import commands, handlers
from appointments.adapters.offices import UnitOffices
from appointments.adapters.outbox import OutboxRelay
from appointments.adapters.recipients import RecipientDirectory
from appointments.domain import VERIFIED, Person, RoleFilled
from shared.auth.tokens import ORGANISER, Principal
from shared.kafka.producer import EventPublisher
from shared.teams.offices import MANDAL_PRESIDENT, audience_roles
from shared.teams.rules import rules_for
from tests.fakes.appointments import Budgets

pytestmark = pytest.mark.integration

DISTRICT = "IN-HP-D01"
MANDAL = "IN-HP-D01-A01-M01"
HOME = f"{MANDAL}-S01-B002"
DISTRICT_ORGANISER = Principal(subject="user-d01", kind=ORGANISER, unit=DISTRICT)


@pytest.fixture
def office_ports(ports, mongo_db, personal):
    ports.offices = UnitOffices(mongo_db, rules_for, personal)
    ports.limits = Budgets()
    return ports


@pytest.fixture
def directory(office_ports, mongo_db, personal):
    directory = RecipientDirectory(mongo_db, office_ports.registry, audience_roles, personal)
    directory.backfill([])
    return directory


@pytest.fixture
def published(kafka_bootstrap, scratch):
    return scratch(partitions=1)


@pytest.fixture
def relay(office_ports, directory, kafka_bootstrap, published):
    publisher = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: published)
    return OutboxRelay(office_ports.offices, directory, publisher)


def phone() -> str:
    return f"+9198{random.randrange(10**8):08d}"


def appoint_president(ports, number: str):
    command = commands.AppointOfficer(
        unit_id=MANDAL,
        role=MANDAL_PRESIDENT,
        person=Person(name="राजेश ठाकुर", phone=number, gender="male"),
        home_booth=HOME,
    )
    return handlers.handle(ports, command, DISTRICT_ORGANISER)


def verify(ports, appointment) -> None:
    handlers.otp_verified(
        ports,
        event_id=str(uuid.uuid4()),
        booth_id=MANDAL,
        appointment_id=appointment.id,
        request_id=appointment.otp_request_id,
    )


def values_on(kafka_bootstrap: str, topic: str) -> list[str]:
    reader = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"t-{uuid.uuid4()}"})
    low, high = reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    reader.assign([TopicPartition(topic, 0, low)])
    values = []
    while len(values) < high - low:
        record = reader.poll(5)
        assert record is not None, "the relay's events did not all arrive"
        values.append(record.value().decode())
    reader.close()
    return values


def test_a_verified_mandal_president_is_a_recipient_of_the_district_at_their_own_booth(
    office_ports, directory, relay, kafka_bootstrap, published
):
    number = phone()
    appointment = appoint_president(office_ports, number)
    verify(office_ports, appointment)
    assert office_ports.offices.get(MANDAL).get(appointment.id).status == VERIFIED
    stored = office_ports.offices.teams.find_one({"_id": MANDAL})
    assert number not in json.dumps(stored, default=str)  # sealed at rest

    relay.relay_once()
    rows = [r for r in directory.under(DISTRICT, {MANDAL_PRESIDENT})]
    [row] = [r for r in rows if r["appointment_id"] == appointment.id]
    assert (row["booth_id"], row["booth_path"]["mandal"], row["phone"]) == (HOME, MANDAL, number)
    assert not [r for r in directory.under("IN-HP-D02", {MANDAL_PRESIDENT})]
    assert appointment.id not in {r["appointment_id"] for r in directory.under(HOME, None)}

    events = [json.loads(value) for value in values_on(kafka_bootstrap, published)]
    assert [e["change"] for e in events if "change" in e] == ["appointed", "verified"]
    # Only the code request (its `purpose`) carries the phone, to the OTP service.
    assert [e for e in events if number in json.dumps(e)] == [e for e in events if "purpose" in e]


def test_a_second_mandal_president_is_refused_until_the_first_is_revoked(office_ports):
    first = appoint_president(office_ports, phone())
    with pytest.raises(RoleFilled):
        appoint_president(office_ports, phone())
    handlers.handle(
        office_ports,
        commands.Revoke(booth_id=MANDAL, appointment_id=first.id),
        DISTRICT_ORGANISER,
    )
    assert appoint_president(office_ports, phone()).id != first.id


def test_erasing_a_phone_erases_the_mandal_president_holding_it(office_ports, relay, directory):
    number = phone()
    appointment = appoint_president(office_ports, number)
    verify(office_ports, appointment)
    relay.relay_once()
    _, erased = handlers.erase_person(
        office_ports, phone=number, requested_by="user-d01", unit=DISTRICT
    )
    assert erased == [(MANDAL, appointment.id)]
    scrubbed = office_ports.offices.get(MANDAL).get(appointment.id)
    assert scrubbed.person.phone == "" and scrubbed.erased_at is not None
    relay.relay_once()
    assert appointment.id not in {
        r["appointment_id"] for r in directory.under(DISTRICT, {MANDAL_PRESIDENT})
    }


def test_the_offices_relay_reports_its_own_backlog_beside_the_booth_teams_one(
    office_ports, directory, kafka_bootstrap, published
):
    publisher = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: published)
    offices = OutboxRelay(office_ports.offices, directory, publisher, name="unit_offices")
    teams = OutboxRelay(office_ports.teams, directory, publisher, name="booth_teams")
    appoint_president(office_ports, phone())
    offices.relay_once()
    teams.relay_once()  # used to set the one shared series to the booth teams' backlog

    def backlog(relay: str) -> float | None:
        return REGISTRY.get_sample_value("sangathan_outbox_backlog_booths", {"relay": relay})

    assert backlog("unit_offices") >= 1 and backlog("booth_teams") is not None
