"""The webhooks' group commit (meetings.bootstrap.group_webhooks) on the real FerretDB and Kafka:
concurrent webhooks of different participants are read, written and published together, each
stored and published once; two of one participant in one batch (the second's compare-and-set
loses) are both folded; and with Kafka away the webhooks fail (the API's 503), then the provider's
retry publishes the same events once Kafka is back."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest
from pymongo import MongoClient, monitoring

from meetings.adapters.live import MongoLive
from meetings.bootstrap import group_webhooks
from meetings.conference import ProviderEvent, leg_id
from meetings.live import LivePorts, provider_event
from shared.crypto.fields import FieldCipher
from shared.events import types
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.orgtree.levels import booth_path
from testkit.topic_tail import TopicTail

pytestmark = pytest.mark.integration

CIPHER = FieldCipher({"k1": b"w" * 32}, "k1")
AT = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
BOOTH = "IN-MP-D07-A01-M01-S01-B001"
LINGER_S = 0.3  # long enough that webhooks posted together share a batch on a busy machine


class Commands(monitoring.CommandListener):
    """The commands the store was asked, by name and collection (and the read-backs apart)."""

    def __init__(self):
        self.seen: Counter = Counter()

    def started(self, event):
        name = event.command_name
        collection = event.command.get(name)
        if not isinstance(collection, str) or not collection.endswith("invitees"):
            return
        if name == "find" and event.command.get("projection") == {"att_w": 1}:
            name = "read-back"
        self.seen[name] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


class Switch:
    """A publisher that can be swapped: Kafka away, then back."""

    def __init__(self, current):
        self.current = current

    def emit(self, *args, **kwargs):
        return self.current.emit(*args, **kwargs)

    def flush(self, timeout: float = 10.0) -> None:
        self.current.flush(timeout)


@pytest.fixture
def store(mongo_db, settings):
    commands = Commands()
    client = MongoClient(settings.mongo_url, event_listeners=[commands])
    yield client[mongo_db.name], commands
    client.close()


@pytest.fixture
def kafka(kafka_bootstrap, scratch):
    topic = scratch()
    publisher = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: topic)
    yield topic, publisher
    publisher.close(5)


def meeting(db, count: int, events) -> tuple[str, list[str], LivePorts]:
    """A started audio meeting of `count` invitees; its webhooks grouped as bootstrap does."""
    meeting_id = str(uuid.uuid4())
    people = [str(uuid.uuid4()) for _ in range(count)]
    db["m_invitees"].insert_many(
        [
            {
                "_id": f"{meeting_id}/{p}",
                "meeting_id": meeting_id,
                "participant_id": p,
                "booth_id": BOOTH,
                "booth_path": booth_path(BOOTH),
                "part": "listener",
            }
            for p in people
        ]
    )
    kind = type("Meeting", (), {"kind": "audio_bridge"})()
    ports = LivePorts(
        provider=None,
        live=MongoLive(db, "m_", CIPHER),
        meetings=type("Meetings", (), {"get": lambda self, i: kind})(),
        events=events,
        caller_hash=str,
        callback_url="http://meetings.test/hook",
    )
    group_webhooks(ports, events, size=64, linger_s=LINGER_S, wait_s=20)
    return meeting_id, people, ports


def joined(meeting_id: str, person: str, event_id: str, call: str) -> ProviderEvent:
    ref = f"{meeting_id}/{person}"
    return ProviderEvent(event_id, "participant.joined", "b1", AT, call, participant_ref=ref)


def post_together(meeting_id: str, webhooks: list[ProviderEvent], ports) -> list:
    """Each webhook from its own thread at once, as the provider posts them; each outcome."""
    outcomes: list = [None] * len(webhooks)
    start = threading.Barrier(len(webhooks))

    def post(n: int) -> None:
        start.wait()
        try:
            outcomes[n] = provider_event(meeting_id, webhooks[n], ports)
        except Exception as failed:
            outcomes[n] = failed

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(webhooks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def published(bootstrap: str, topic: str, expected: int) -> list:
    """Every event on the topic (waiting for one more than expected, to see any duplicate)."""
    tail = TopicTail.from_start(bootstrap, topic)
    try:
        return tail.wait_until(lambda e: True, count=expected + 1, timeout=4)
    finally:
        tail.close()


def test_concurrent_webhooks_of_many_participants_are_stored_and_published_once_together(
    store, kafka, kafka_bootstrap
):
    db, commands = store
    topic, publisher = kafka
    meeting_id, people, ports = meeting(db, 12, publisher)
    webhooks = [joined(meeting_id, p, f"e-{p}", f"c-{p}") for p in people]
    outcomes = post_together(meeting_id, webhooks, ports)
    assert [len(o) for o in outcomes] == [2] * 12, outcomes  # the answered attempt, the join
    assert commands.seen["update"] < 12 and commands.seen["find"] < 12, commands.seen
    docs = {d["participant_id"]: d for d in db["m_invitees"].find({"meeting_id": meeting_id})}
    for person in people:
        legs = list(docs[person]["att"]["legs"])
        assert docs[person]["att_v"] == 1 and legs == [leg_id(f"c-{person}")]
    events = published(kafka_bootstrap, topic, 24)
    assert len(events) == 24 and len({e.id for e in events}) == 24
    joins = Counter(e.data["participant_id"] for e in events if e.type == types.PARTICIPANT_JOINED)
    assert joins == Counter(people)


def test_two_webhooks_of_one_participant_in_one_batch_are_both_folded(
    store, kafka, kafka_bootstrap
):
    """Both read the same version; in the batch's bulk write the second compare-and-set finds
    the first's: a short count, the tokens read back, and the loser reads again and retries."""
    db, commands = store
    topic, publisher = kafka
    meeting_id, [person], ports = meeting(db, 1, publisher)
    webhooks = [joined(meeting_id, person, f"e{n}", f"c{n}") for n in (1, 2)]
    outcomes = post_together(meeting_id, webhooks, ports)
    assert [len(o) for o in outcomes] == [2, 2], outcomes  # each: its attempt and its leg
    assert commands.seen["read-back"] >= 1, "the compare-and-set lost in the batch"
    doc = db["m_invitees"].find_one({"_id": f"{meeting_id}/{person}"})
    legs = sorted(leg_id(c) for c in ("c1", "c2"))
    assert sorted(doc["att"]["legs"]) == legs and doc["att_v"] == 2
    events = published(kafka_bootstrap, topic, 4)
    assert len(events) == 4 and len({e.id for e in events}) == 4
    assert sorted(e.data["leg_id"] for e in events if e.type == types.PARTICIPANT_JOINED) == legs


def test_with_kafka_away_webhooks_fail_and_their_retry_publishes_the_same_events_once(
    store, kafka, kafka_bootstrap
):
    db, _ = store
    topic, publisher = kafka
    away = EventPublisher(
        "127.0.0.1:9", "/test", config={"message.timeout.ms": 1500}, topic_for=lambda _: topic
    )
    switch = Switch(away)
    meeting_id, people, ports = meeting(db, 3, switch)
    webhooks = [joined(meeting_id, p, f"e-{p}", f"c-{p}") for p in people]
    outcomes = post_together(meeting_id, webhooks, ports)
    assert all(isinstance(o, DeliveryError) for o in outcomes), outcomes  # the API's 503
    pending = {
        d["participant_id"]: set(d["att_pending"])
        for d in db["m_invitees"].find({"meeting_id": meeting_id})
    }
    assert all(len(ids) == 2 for ids in pending.values()), "stored, to be sent again"
    switch.current = publisher  # Kafka is back; the provider posts the webhooks again
    again = post_together(meeting_id, webhooks, ports)
    assert again == [[], [], []], "folded before: nothing new to tell"
    events = published(kafka_bootstrap, topic, 6)
    assert sorted(e.id for e in events) == sorted(i for ids in pending.values() for i in ids)
    assert ports.live.flush_published() == 3
    assert all(not d["att_pending"] for d in db["m_invitees"].find({"meeting_id": meeting_id}))
