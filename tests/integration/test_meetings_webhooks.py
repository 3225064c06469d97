"""The webhooks' group commit (meetings.bootstrap.group_webhooks) on the real FerretDB and Kafka:
concurrent webhooks of different participants are read, written and published together, each
stored and published once; two of one participant in one batch (the second's compare-and-set
loses) are both folded; and with Kafka away the webhooks fail (the API's 503), then the provider's
retry publishes the same events once Kafka is back. A webhook reads and writes only its
participant's small attendance document, never the invitee; a meeting started by the code before
(attendance embedded in the invitee) goes on from what its invitees hold."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest
from bson import BSON
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, monitoring

from meetings.adapters.live import (
    Dialled,
    MongoLive,
    attendance_document,
    embedded_attendance,
)
from meetings.bootstrap import group_webhooks
from meetings.conference import Attendance, ProviderEvent, fold, leg_id
from meetings.live import LivePorts, provider_event, recount
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
    """The commands the store was asked on the attendance documents, by name (the read-backs
    apart), and every collection touched."""

    def __init__(self):
        self.seen: Counter = Counter()
        self.collections: Counter = Counter()

    def started(self, event):
        name = event.command_name
        collection = event.command.get(name)
        if not isinstance(collection, str):
            return
        self.collections[collection] += 1
        if collection != "m_attendance":
            return
        if name == "find" and event.command.get("projection") == {"att_w": 1}:
            name = "read-back"
        self.seen[name] += 1

    def clear(self) -> None:
        self.seen.clear()
        self.collections.clear()

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


def invitee(meeting_id: str, person: str, **embedded) -> dict:
    """An invitee as the invitations store it (sealed phone, booth path…), plus `embedded`: the
    live fields a meeting started by the code before kept in it."""
    return {
        "_id": f"{meeting_id}/{person}",
        "meeting_id": meeting_id,
        "participant_id": person,
        "booth_id": BOOTH,
        "booth_path": booth_path(BOOTH),
        "role": "booth_president",
        "part": "listener",
        "locale": "hi",
        "channel": "whatsapp",
        "phone": CIPHER.seal("+919812345678", "phone"),
        "invited_at": AT,
        **embedded,
    }


def audio_ports(db, events) -> LivePorts:
    """The live ports a webhook goes through, for audio meetings, on the real store."""
    kind = type("Meeting", (), {"kind": "audio_bridge"})()
    return LivePorts(
        provider=None,
        live=MongoLive(db, "m_", CIPHER),
        meetings=type("Meetings", (), {"get": lambda self, i: kind})(),
        events=events,
        caller_hash=str,
        callback_url="http://meetings.test/hook",
    )


def meeting(db, count: int, events, dialled: bool = False) -> tuple[str, list[str], LivePorts]:
    """A started audio meeting of `count` invitees; its webhooks grouped as bootstrap does.
    `dialled`: each invitee's call "c-<person>" written, as the dialler does (which makes its
    attendance document); else the first webhook makes it."""
    meeting_id = str(uuid.uuid4())
    people = [str(uuid.uuid4()) for _ in range(count)]
    db["m_invitees"].insert_many([invitee(meeting_id, p) for p in people])
    ports = audio_ports(db, events)
    if dialled:
        calls = [Dialled(f"{meeting_id}/{p}", f"h-{p}", 1, f"c-{p}", 1, BOOTH) for p in people]
        assert ports.live.note_calls(calls) == []
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
    meeting_id, people, ports = meeting(db, 12, publisher, dialled=True)
    commands.clear()
    webhooks = [joined(meeting_id, p, f"e-{p}", f"c-{p}") for p in people]
    outcomes = post_together(meeting_id, webhooks, ports)
    assert [len(o) for o in outcomes] == [2] * 12, outcomes  # the answered attempt, the join
    assert commands.seen["update"] < 12 and commands.seen["find"] < 12, commands.seen
    assert "m_invitees" not in commands.collections, "the invitees are neither read nor written"
    found = db["m_attendance"].find({"meeting_id": meeting_id})
    docs = {d["_id"].split("/")[1]: d for d in found}
    for person in people:
        legs = list(docs[person]["att"]["legs"])
        assert docs[person]["att_v"] == 2 and legs == [leg_id(f"c-{person}")]  # dialled, joined
    events = published(kafka_bootstrap, topic, 24)
    assert len(events) == 24 and len({e.id for e in events}) == 24
    joins = Counter(e.data["participant_id"] for e in events if e.type == types.PARTICIPANT_JOINED)
    assert joins == Counter(people)
    stored = {e: p for d in docs.values() for e, p in d["att_pending"].items()}
    assert stored and all("booth_path" not in p["data"] for p in stored.values()), "kept short"
    assert all(
        (e.data["meeting_id"], e.data["booth_id"], e.data["booth_path"])
        == (meeting_id, BOOTH, booth_path(BOOTH))
        for e in events
    ), "what the stored event leaves out is added as it goes out"


@pytest.mark.parametrize("dialled", [True, False], ids=["dialled", "no-document-yet"])
def test_two_webhooks_of_one_participant_in_one_batch_are_both_folded(
    store, kafka, kafka_bootstrap, dialled
):
    """Both read the same version; in the batch's bulk write the second compare-and-set finds
    the first's: a short count, the tokens read back, and the loser reads again and retries.
    With no attendance document yet, both insert one: the second finds the `_id` taken."""
    db, commands = store
    topic, publisher = kafka
    meeting_id, [person], ports = meeting(db, 1, publisher, dialled=dialled)
    webhooks = [joined(meeting_id, person, f"e{n}", f"c{n}") for n in (1, 2)]
    outcomes = post_together(meeting_id, webhooks, ports)
    assert [len(o) for o in outcomes] == [2, 2], outcomes  # each: its attempt and its leg
    assert commands.seen["read-back"] >= 1, "the compare-and-set lost in the batch"
    doc = db["m_attendance"].find_one({"_id": f"{meeting_id}/{person}"})
    legs = sorted(leg_id(c) for c in ("c1", "c2"))
    assert sorted(doc["att"]["legs"]) == legs and doc["att_v"] == 2 + dialled
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
        d["_id"].split("/")[1]: set(d["att_pending"])
        for d in db["m_attendance"].find({"meeting_id": meeting_id})
    }
    assert set(pending) == set(people)
    assert all(len(ids) == 2 for ids in pending.values()), "stored, to be sent again"
    switch.current = publisher  # Kafka is back; the provider posts the webhooks again
    again = post_together(meeting_id, webhooks, ports)
    assert again == [[], [], []], "folded before: nothing new to tell"
    events = published(kafka_bootstrap, topic, 6)
    assert sorted(e.id for e in events) == sorted(i for ids in pending.values() for i in ids)
    assert ports.live.flush_published() == 3
    assert all(not d["att_pending"] for d in db["m_attendance"].find({"meeting_id": meeting_id}))


def leg_event(meeting_id: str, person: str, n: int, kind: str, seconds=None) -> ProviderEvent:
    ref = f"{meeting_id}/{person}"
    call = f"c-{person}"
    return ProviderEvent(f"{kind}-{n}", kind, "b1", AT, call, participant_ref=ref, seconds=seconds)


def test_a_call_and_its_webhooks_leave_the_invitee_untouched_and_write_a_small_document(
    store, kafka
):
    """Byte for byte: the dial and every webhook of a whole call write the participant's
    attendance document only, and the webhooks do not even read the invitee."""
    db, commands = store
    _, publisher = kafka
    meeting_id, [person], ports = meeting(db, 1, publisher)
    key = f"{meeting_id}/{person}"
    raw = db.get_collection("m_invitees", CodecOptions(document_class=RawBSONDocument))
    before = raw.find_one({"_id": key}).raw
    assert len(before) > 400, "an invitee as the invitations store it"
    assert ports.live.note_calls([Dialled(key, "h-1", 1, f"c-{person}", 1, BOOTH)]) == []
    commands.clear()
    kinds = ("call.ringing", "call.answered", "participant.joined", "participant.left")
    for n, kind in enumerate(kinds):
        seconds = 300 if kind == "participant.left" else None
        provider_event(meeting_id, leg_event(meeting_id, person, n, kind, seconds), ports)
    assert "m_invitees" not in commands.collections, commands.collections
    assert raw.find_one({"_id": key}).raw == before, "the invitee document is unchanged"
    ports.live.flush_published()
    doc = db["m_attendance"].find_one({"_id": key})
    assert doc["att"]["joined"] and doc["att"]["seconds"] == 300 and doc["att_v"] == 5
    assert (doc["meeting_id"], doc["booth_id"], doc["caller_hash"]) == (meeting_id, BOOTH, "h-1")
    assert len(BSON.encode(doc)) < 1024, len(BSON.encode(doc))
    assert "phone" not in doc and "booth_path" not in doc


def old_attendance(meeting_id: str, person: str, kinds: list[str], pending: dict) -> dict:
    """The live fields the code before embedded in an invitee, after these webhooks."""
    state = Attendance(calls={f"c-{person}": 1})  # its dial's
    for n, kind in enumerate(kinds):
        state, _ = fold(state, leg_event(meeting_id, person, n, kind), "dial_out")
    return {
        "caller_hash": f"h-{person}",
        "dial_bridge": 1,
        "att": attendance_document(state),
        "att_v": len(kinds),
        "att_w": ["old-token"],
        "att_pending": pending,
    }


def test_a_meeting_started_by_the_code_before_goes_on_from_its_invitees(
    store, kafka, kafka_bootstrap
):
    """Attendance embedded in the invitees: read from there while a participant has no
    attendance document, carried into the document by its first write (a webhook, a dial-in,
    a redial: version, calls and the events still pending), and counted at the end."""
    db, _ = store
    topic, publisher = kafka
    meeting_id = str(uuid.uuid4())
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    left_pending = {"old-event": {"type": types.CALL_ATTEMPTED, "data": {"n": 1}}}
    ringing = ["call.ringing", "call.answered"]
    db["m_invitees"].insert_many(
        [
            invitee(meeting_id, a, **old_attendance(meeting_id, a, ringing, left_pending)),
            invitee(meeting_id, b, **old_attendance(meeting_id, b, ringing, {})),
            invitee(
                meeting_id, c, **old_attendance(meeting_id, c, [*ringing, "participant.joined"], {})
            ),
            invitee(meeting_id, d, **old_attendance(meeting_id, d, ["call.ringing"], {})),
        ]
    )
    invitees = {x["_id"]: x for x in db["m_invitees"].find({"meeting_id": meeting_id})}
    sent = []
    events = type(
        "Events",
        (),
        {
            "emit": lambda self, t, data, event_id=None: sent.append(event_id),
            "flush": lambda *a: None,
        },
    )()
    ports = audio_ports(db, events)
    # a: a webhook of a participant with no document: from the invitee, into a new document
    facts = provider_event(meeting_id, leg_event(meeting_id, a, 9, "participant.joined"), ports)
    assert len(facts) == 1, facts  # the join; the call's answer was told before
    doc = db["m_attendance"].find_one({"_id": f"{meeting_id}/{a}"})
    assert doc["att_v"] == 3 and doc["att"]["calls"] == {f"c-{a}": 1} and doc["att"]["joined"]
    assert (doc["caller_hash"], doc["dial_bridge"], doc["booth_id"]) == (f"h-{a}", 1, BOOTH)
    assert "old-event" in sent, "the events the code before left pending go out"
    # b: a dial-in, matched by the caller hash its invitee holds
    dial_in = ProviderEvent("in-1", "participant.joined", "b1", AT, "c-in", from_hash=f"h-{b}")
    assert len(provider_event(meeting_id, dial_in, ports)) == 1
    doc = db["m_attendance"].find_one({"_id": f"{meeting_id}/{b}"})
    assert doc["att_v"] == 3 and doc["att"]["legs"][leg_id("c-in")]["via"] == "dial_in"
    # d: a redial writes its call on top of what the invitee held
    old = invitees[f"{meeting_id}/{d}"]
    redial = Dialled(old["_id"], f"h-{d}", 1, "c-redial", 2, BOOTH, embedded_attendance(old))
    assert ports.live.note_calls([redial]) == []
    doc = db["m_attendance"].find_one({"_id": f"{meeting_id}/{d}"})
    assert doc["att"]["calls"] == {f"c-{d}": 1, "c-redial": 2} and doc["att_v"] == 2
    # c: never written again, counted from its invitee at the end
    totals = recount(meeting_id, ports)
    assert (totals["invited"], totals["rang"], totals["joined"]) == (4, 4, 3)
    assert {x["_id"]: x for x in db["m_invitees"].find({"meeting_id": meeting_id})} == invitees
