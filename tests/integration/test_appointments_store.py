"""Booth teams against the real MongoDB API server and Kafka: compare-and-set, the national
one-president rule, concurrent organisers, and the outbox relay through a Kafka outage."""

import random
import threading
import uuid

import pytest
from confluent_kafka import Consumer

from appointments import handlers
from appointments.adapters.outbox import OutboxRelay
from appointments.adapters.recipients import RecipientDirectory
from appointments.domain import DomainError, Person, RoleFilled
from appointments.ports import ConcurrentUpdate
from shared.events.contracts import from_kafka
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.teams.rules import rules_for
from testkit.processes import closed_port
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

BOOTHS = [f"IN-HP-D01-A01-M01-S01-B00{i}" for i in range(1, 6)]


def directory(ports) -> RecipientDirectory:
    return RecipientDirectory(
        ports.teams.teams.database,
        ports.registry,
        lambda state: rules_for(state).roles,
        ports.teams.personal,
    )


def phone() -> str:
    return f"+9198{random.randrange(10**8):08d}"


def person(gender="female") -> Person:
    return Person(name="Test Person", phone=phone(), gender=gender)


def test_a_save_based_on_a_stale_read_is_refused(ports):
    handlers.appoint(
        ports, booth_id=BOOTHS[0], role="booth_president", person=person(), organiser="u"
    )
    first, second = ports.teams.get(BOOTHS[0]), ports.teams.get(BOOTHS[0])
    first.revoke(first.active()[0].id, organiser="u", now=first.active()[0].appointed_at)
    ports.teams.save(first)
    with pytest.raises(ConcurrentUpdate):
        ports.teams.save(second)


def test_concurrent_organisers_fill_a_president_seat_exactly_once(ports):
    outcomes = []

    def try_appoint():
        try:
            handlers.appoint(
                ports, booth_id=BOOTHS[1], role="booth_president", person=person(), organiser="u"
            )
            outcomes.append("appointed")
        except RoleFilled:
            outcomes.append("refused")

    threads = [threading.Thread(target=try_appoint) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["appointed"] + ["refused"] * 5
    assert len(ports.teams.get(BOOTHS[1]).active()) == 1


def test_one_person_is_booth_president_of_one_booth_nationally(ports):
    same = person()
    handlers.appoint(ports, booth_id=BOOTHS[0], role="booth_president", person=same, organiser="u")
    with pytest.raises(handlers.PresidentElsewhere):
        handlers.appoint(
            ports, booth_id=BOOTHS[2], role="booth_president", person=same, organiser="u"
        )
    # A member seat elsewhere is fine; the rule is about the president's post.
    handlers.appoint(ports, booth_id=BOOTHS[2], role="member", person=same, organiser="u")


def test_a_revoked_president_may_take_another_booth(ports):
    same = person()
    first = handlers.appoint(
        ports, booth_id=BOOTHS[0], role="booth_president", person=same, organiser="u"
    )
    handlers.revoke(ports, booth_id=BOOTHS[0], appointment_id=first.id, organiser="u")
    second = handlers.appoint(
        ports, booth_id=BOOTHS[3], role="booth_president", person=same, organiser="u"
    )
    assert ports.teams.get(BOOTHS[3]).president().id == second.id
    assert ports.posts.claim(same.phone, BOOTHS[1], str(uuid.uuid4())) == BOOTHS[3], (
        "the post moved with them"
    )


def test_a_claim_left_by_a_crash_before_the_team_was_saved_is_taken_over(ports):
    same = person()
    ports.posts.claim(
        same.phone, BOOTHS[0], "00000000-0000-4000-8000-000000000000"
    )  # the team was never saved
    appointed = handlers.appoint(
        ports, booth_id=BOOTHS[4], role="booth_president", person=same, organiser="u"
    )
    assert ports.teams.get(BOOTHS[4]).president().id == appointed.id
    assert ports.posts.claim(same.phone, BOOTHS[0], str(uuid.uuid4())) == BOOTHS[4], (
        "the stale claim is gone"
    )


def test_teams_inserted_in_one_batch_leave_existing_teams_as_they_are(ports):
    handlers.appoint(
        ports, booth_id=BOOTHS[0], role="booth_president", person=person(), organiser="u"
    )
    before = ports.teams.get(BOOTHS[0])
    fresh = [handlers.load_team(ports, b) for b in BOOTHS[:3]]
    fresh[1].appoint(role="whatsapp_pramukh", person=person(), organiser="u", now=ports.clock())
    assert ports.teams.insert_new(fresh) == {BOOTHS[0]}
    assert ports.teams.get(BOOTHS[0]).version == before.version, (
        "an existing team is not overwritten"
    )
    assert ports.teams.get(BOOTHS[1]).appointments[0].role == "whatsapp_pramukh"
    assert BOOTHS[1] in ports.teams.pending_booths(10), "its events will be relayed"


def test_an_unknown_booth_is_refused_and_leaves_no_record(ports):
    with pytest.raises(handlers.UnknownBooth):
        handlers.appoint(
            ports,
            booth_id="IN-HP-D99-A01-M01-S01-B001",
            role="member",
            person=person(),
            organiser="u",
        )
    assert ports.teams.teams.count_documents({}) == 0


def test_a_refused_row_leaves_the_other_rows_of_a_booth_appointed(ports):
    rows = [
        handlers.Row(2, "booth_president", person()),
        handlers.Row(3, "booth_president", person()),
        handlers.Row(4, "whatsapp_pramukh", person()),
    ]
    outcome = handlers.appoint_rows(ports, booth_id=BOOTHS[0], rows=rows, organiser="u")
    assert isinstance(outcome[3], DomainError) and outcome[3].kind == "role-already-filled"
    assert outcome[2].new and outcome[4].new
    assert {a.role for a in ports.teams.get(BOOTHS[0]).active()} == {
        "booth_president",
        "whatsapp_pramukh",
    }


def test_the_same_rows_imported_again_are_reported_as_not_new(ports):
    rows = [
        handlers.Row(2, "booth_president", person()),
        handlers.Row(3, "whatsapp_pramukh", person()),
    ]
    first = handlers.appoint_rows(ports, booth_id=BOOTHS[0], rows=rows, organiser="u")
    again = handlers.appoint_rows(ports, booth_id=BOOTHS[0], rows=rows, organiser="u")
    assert [o.new for o in first.values()] == [True, True] and [o.new for o in again.values()] == [
        False,
        False,
    ]
    assert [o.appointment.id for o in again.values()] == [o.appointment.id for o in first.values()]


def test_booths_without_a_team_are_appointed_in_one_batch_with_their_claims_and_pointers(ports):
    president = person()
    booths = [
        (
            b,
            [
                handlers.Row(2 + 2 * i, "booth_president", person()),
                handlers.Row(3 + 2 * i, "whatsapp_pramukh", person()),
            ],
        )
        for i, b in enumerate(BOOTHS[:3])
    ]
    booths[1][1][0] = handlers.Row(4, "booth_president", president)
    outcome = handlers.appoint_booths(ports, booths, organiser="u")
    assert all(o.new for b in BOOTHS[:3] for o in outcome[b].values())
    team = ports.teams.get(BOOTHS[1])
    assert (
        team.president().person.phone == president.phone and len(team.outbox) == 4
    )  # 2 appointed + 2 otp
    assert sorted(ports.teams.pending_booths(10)) == BOOTHS[:3]
    assert ports.posts.claim(president.phone, BOOTHS[4], "other") == BOOTHS[1], (
        "the post is claimed"
    )


def test_a_batch_leaves_every_rule_to_the_one_by_one_path_where_it_must(ports):
    held = person()
    handlers.appoint(ports, booth_id=BOOTHS[0], role="booth_president", person=held, organiser="u")
    twice = person()
    booths = [
        (BOOTHS[0], [handlers.Row(2, "whatsapp_pramukh", person())]),  # has a team already
        (BOOTHS[1], [handlers.Row(3, "booth_president", held)]),  # president of BOOTHS[0]
        (BOOTHS[2], [handlers.Row(4, "booth_president", twice)]),
        (
            BOOTHS[3],
            [handlers.Row(5, "booth_president", twice)],
        ),  # the same person, twice in the file
        ("IN-HP-D99-A01-M01-S01-B001", [handlers.Row(6, "member", person())]),
    ]
    outcome = handlers.appoint_booths(ports, booths, organiser="u")
    assert outcome[BOOTHS[0]][2].new and len(ports.teams.get(BOOTHS[0]).active()) == 2
    assert outcome[BOOTHS[1]][3].kind == "already-president-elsewhere"
    assert outcome[BOOTHS[2]][4].new
    assert outcome[BOOTHS[3]][5].kind == "already-president-elsewhere"
    assert isinstance(outcome["IN-HP-D99-A01-M01-S01-B001"], handlers.UnknownBooth)
    assert ports.teams.get(BOOTHS[3]) is None or not ports.teams.get(BOOTHS[3]).active()


# ------------------------------------------------------------------ the outbox relay


@pytest.fixture
def scratch_topic(scratch):
    return scratch(partitions=3)


def read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 20) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": random_suffix(),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    events, waited = [], 0.0
    while len(events) < expected and waited < timeout_s:
        message = consumer.poll(0.5)
        waited += 0.5
        if message is not None and not message.error():
            events.append(from_kafka(message.headers(), message.key(), message.value()))
    consumer.close()
    return events


def test_the_relay_keeps_events_through_a_kafka_outage_and_publishes_them_after(
    ports, kafka_bootstrap, scratch_topic
):
    for booth in BOOTHS[:3]:
        handlers.appoint(
            ports, booth_id=booth, role="booth_president", person=person(), organiser="u"
        )
    written = {e["id"] for b in BOOTHS[:3] for e in ports.teams.get(b).outbox}
    assert len(written) == 6  # appointed + otp-requested per booth

    down = EventPublisher(
        f"127.0.0.1:{closed_port()}",
        "/test",
        config={"message.timeout.ms": 1500},
        topic_for=lambda _: scratch_topic,
    )
    with pytest.raises(DeliveryError):
        OutboxRelay(ports.teams, directory(ports), down).relay_once()
    assert {e["id"] for b in BOOTHS[:3] for e in ports.teams.get(b).outbox} == written, (
        "nothing lost"
    )
    assert sorted(ports.teams.pending_booths(10)) == BOOTHS[:3], "and the relay will look again"

    up = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: scratch_topic)
    assert OutboxRelay(ports.teams, directory(ports), up).relay_once() == 6
    assert all(not ports.teams.get(b).outbox for b in BOOTHS[:3])
    assert {e.id for e in read_all(kafka_bootstrap, scratch_topic, 6)} == written


def test_the_sweep_finds_events_whose_pointer_a_crash_lost(ports, kafka_bootstrap, scratch_topic):
    handlers.appoint(ports, booth_id=BOOTHS[0], role="member", person=person(), organiser="u")
    ports.teams.clear_pending(BOOTHS[0])  # as if the process died between the two writes
    relay = OutboxRelay(
        ports.teams,
        directory(ports),
        EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: scratch_topic),
    )
    assert relay.relay_once() == 0
    relay.sweep()
    assert relay.relay_once() == 2
