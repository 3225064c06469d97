"""The verified-recipient directory on the real MongoDB API server and Kafka: the relay keeps it
in step with every booth team, and a unit's recipients are read from it by `_id` alone."""

import random
import uuid

import pytest

from appointments import handlers
from appointments.adapters.outbox import OutboxRelay
from appointments.adapters.recipients import RecipientDirectory, RecipientsBuilding
from appointments.domain import Person
from shared.kafka.producer import EventPublisher
from shared.teams.rules import rules_for

pytestmark = pytest.mark.integration

MANDAL = "IN-HP-D01-A01-M01"
BOOTHS = [f"{MANDAL}-S01-B00{i}" for i in range(1, 4)]


@pytest.fixture
def directory(ports, mongo_db):
    directory = RecipientDirectory(
        mongo_db, ports.registry, lambda state: rules_for(state).roles, ports.teams.personal
    )
    directory.backfill([])
    return directory


@pytest.fixture
def relay(ports, directory, kafka_bootstrap, scratch):
    topic = scratch(partitions=1)
    return OutboxRelay(
        ports.teams, directory, EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: topic)
    )


def person(gender="female") -> Person:
    return Person(name="Asha Devi", phone=f"+9198{random.randrange(10**8):08d}", gender=gender)


def appoint_verified(ports, booth: str, role: str = "booth_president"):
    appointment = handlers.appoint(ports, booth_id=booth, role=role, person=person(), organiser="u")
    handlers.otp_verified(
        ports,
        event_id=str(uuid.uuid4()),
        booth_id=booth,
        appointment_id=appointment.id,
        request_id=ports.teams.get(booth).get(appointment.id).otp_request_id,
    )
    return appointment


def ids(rows) -> set[str]:
    return {r["appointment_id"] for r in rows}


def test_a_verified_appointee_is_a_recipient_of_every_unit_above_the_booth_once_the_relay_ran(
    ports, directory, relay
):
    appointed = appoint_verified(ports, BOOTHS[0])
    pending = handlers.appoint(
        ports, booth_id=BOOTHS[1], role="booth_president", person=person(), organiser="u"
    )
    relay.relay_once()
    for unit in (BOOTHS[0], MANDAL, "IN-HP-D01", "IN-HP", "IN"):
        rows = [r for r in directory.under(unit, {"booth_president"}) if r["booth_id"] in BOOTHS]
        assert ids(rows) == {appointed.id}, unit
    row = next(r for r in directory.under(MANDAL, None) if r["appointment_id"] == appointed.id)
    assert row["phone"] == ports.teams.get(BOOTHS[0]).get(appointed.id).person.phone
    assert (row["role"], row["locale"], row["booth_path"]["sector"]) == (
        "booth_president",
        "hi",
        f"{MANDAL}-S01",
    )
    assert pending.id not in ids(directory.under(MANDAL, None))
    assert not list(directory.under("IN-HP-D02", {"booth_president"}))
    assert not [r for r in directory.under(MANDAL, {"whatsapp_pramukh"}) if r["booth_id"] in BOOTHS]


def test_a_revoked_appointee_stops_being_a_recipient(ports, directory, relay):
    appointed = appoint_verified(ports, BOOTHS[2])
    relay.relay_once()
    assert appointed.id in ids(directory.under(BOOTHS[2], None))
    handlers.revoke(ports, booth_id=BOOTHS[2], appointment_id=appointed.id, organiser="u")
    relay.relay_once()
    assert appointed.id not in ids(directory.under(BOOTHS[2], None))


def test_an_older_version_of_a_team_never_overwrites_a_newer_one(ports, directory):
    appoint_verified(ports, BOOTHS[0])
    newer = ports.teams.get(BOOTHS[0])
    older = ports.teams.get(BOOTHS[0])
    older.version -= 1
    older.appointments = []
    directory.record(newer, {"booth_president"})
    directory.record(older, {"booth_president"})  # a slow relay arriving late
    assert len(list(directory.under(BOOTHS[0], {"booth_president"}))) == 1


def test_teams_made_before_the_directory_are_filled_in_once_and_reads_wait_for_it(ports, mongo_db):
    appointed = appoint_verified(ports, BOOTHS[1])
    directory = RecipientDirectory(
        mongo_db, ports.registry, lambda state: rules_for(state).roles, ports.teams.personal
    )
    with pytest.raises(RecipientsBuilding):
        directory.under(MANDAL, None)
    assert directory.backfill(ports.teams.every()) == 1
    assert ids(directory.under(MANDAL, None)) == {appointed.id}
    again = RecipientDirectory(
        mongo_db, ports.registry, lambda state: rules_for(state).roles, ports.teams.personal
    )
    assert again.backfill(ports.teams.every()) == 0, "filled once"
    assert ids(again.under(MANDAL, None)) == {appointed.id}
