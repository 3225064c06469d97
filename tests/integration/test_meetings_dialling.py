"""The dialler's batches and the webhooks' deferred bookkeeping on the real FerretDB: diallers
claiming several calls at once never take one call twice, a batch's calls are written to their
invitees with one bulk write whose failed document is dialled again (with the same call ref, so
the provider makes no second call), and events a webhook published leave the participant's
pending ones later without ever being sent twice by the pod that sent them."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from meetings.adapters.live import MongoLive, attendance_of
from meetings.conference import Pacing, ProviderEvent, call_ref
from meetings.live import LivePorts, dial_due, provider_event
from shared.crypto.fields import FieldCipher
from shared.events import types
from shared.orgtree.levels import booth_path

pytestmark = pytest.mark.integration

CIPHER = FieldCipher({"k1": b"d" * 32}, "k1")
AT = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
BOOTH = "IN-MP-D07-A01-M01-S01-B001"


def calls(meeting_id: str, count: int, start: float, pace: float) -> list[dict]:
    return [
        {
            "meeting_id": meeting_id,
            "invitee": f"{meeting_id}/p{n}",
            "attempt": 1,
            "bridge": 1,
            "due_ts": start + n * pace,
        }
        for n in range(count)
    ]


def test_diallers_claiming_batches_at_once_take_every_call_once_in_order(mongo_db):
    meeting_id, count = str(uuid.uuid4()), 90
    MongoLive(mongo_db, "m_", CIPHER).queue_calls(calls(meeting_id, count, 1000.0, 0.0))
    batches: list[list[str]] = []
    lock = threading.Lock()

    def dialler() -> None:
        live = MongoLive(mongo_db, "m_", CIPHER)  # a pod of its own
        while taken := live.take_calls(1000.0, hold_s=60, limit=8):
            with lock:
                batches.append([c["invitee"] for c in taken])
            live.release_calls([c["_id"] for c in taken], {})

    threads = [threading.Thread(target=dialler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    taken = [invitee for batch in batches for invitee in batch]
    assert sorted(taken) == sorted(f"{meeting_id}/p{n}" for n in range(count)), "each once"
    assert max(len(b) for b in batches) == 8, "several calls per claim"
    for batch in batches:  # a batch is consecutive places of the queue
        places = [int(invitee.rsplit("/p", 1)[1]) for invitee in batch]
        assert places == list(range(places[0], places[0] + len(places)))
    queue = mongo_db["m_dial_queues"].find_one({"_id": f"{meeting_id}:1"})
    assert (queue["next"], queue.get("held") or {}) == (count, {}), "every call let go"


def test_claimed_calls_not_due_yet_are_held_until_due_then_taken(mongo_db):
    live, meeting_id = MongoLive(mongo_db, "m_", CIPHER), str(uuid.uuid4())
    live.queue_calls(calls(meeting_id, 6, 1000.0, 1.0))
    first = live.take_calls(1000.5, hold_s=60, limit=8, ahead_s=1.0)
    assert [c["invitee"] for c in first] == [f"{meeting_id}/p0", f"{meeting_id}/p1"]
    assert live.take_calls(1001.5, hold_s=60, limit=8) == [], "p2 is due at 1002"
    assert [c["invitee"] for c in live.take_calls(1002.0, hold_s=60, limit=8)] == [
        f"{meeting_id}/p2"
    ]
    later = [live.take_calls(1010.0, hold_s=60, limit=8) for _ in range(4)]
    assert [[c["invitee"] for c in batch] for batch in later] == [
        [f"{meeting_id}/p3"],
        [f"{meeting_id}/p4"],
        [f"{meeting_id}/p5"],
        [],
    ], "each once, in order"


def test_a_place_whose_redial_was_never_written_does_not_hold_the_queue(mongo_db):
    live, meeting_id = MongoLive(mongo_db, "m_", CIPHER), str(uuid.uuid4())
    redials = [dict(c, attempt=2) for c in calls(meeting_id, 3, 1000.0, 0.0)]
    live.queue_calls(redials[:1])
    mongo_db["m_dial_queues"].update_one(
        {"_id": f"{meeting_id}:2"}, {"$inc": {"end": 1}}
    )  # writer died
    live.queue_calls(redials[2:])
    taken = live.take_calls(1000.0, hold_s=60, limit=8)
    assert [c["invitee"] for c in taken] == [f"{meeting_id}/p0", f"{meeting_id}/p2"]
    live.release_calls([c["_id"] for c in taken], {})
    assert live.take_calls(1059.0, hold_s=60, limit=8) == []
    assert live.take_calls(1061.0, hold_s=60, limit=8) == [], "the lost place is let go"
    queue = mongo_db["m_dial_queues"].find_one({"_id": f"{meeting_id}:2"})
    assert (queue["next"], queue.get("held") or {}) == (3, {})


class Provider:
    """Dials once per call ref, as the provider's idempotency key promises."""

    def __init__(self):
        self.dialled: list[str] = []
        self.calls: dict[str, str] = {}
        self.into: list[str] = []  # the bridge of each call made

    def dial_out(self, bridge_id, *, call_ref, to, participant_ref, **_):
        self.dialled.append(call_ref)
        self.into.append(bridge_id)
        return self.calls.setdefault(call_ref, f"call-{len(self.calls)}")


class Recorded:
    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def emit(self, event_type, data, event_id=None):
        self.sent.append((event_type, event_id))

    def flush(self, timeout=10.0):
        pass


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def live_meeting(
    db, count: int, now: datetime, bridges_within: bool = False
) -> tuple[str, LivePorts]:
    """A started meeting of `count` invitees with phones, its calls queued and due; its bridges
    in their own collection, or `bridges_within` its document, as the code before kept them."""
    meeting_id = str(uuid.uuid4())
    bridges = {"1": {"bridge_id": "b1", "ref": "r1", "role": "listeners"}}
    live = {"state": "started", **({"bridges": bridges} if bridges_within else {})}
    db["m_meetings"].insert_one({"_id": meeting_id, "live": live})
    if not bridges_within:
        db["m_bridges"].insert_one({"_id": meeting_id, "bridges": bridges})
    db["m_invitees"].insert_many(
        [
            {
                "_id": f"{meeting_id}/p{n}",
                "meeting_id": meeting_id,
                "participant_id": f"p{n}",
                "booth_id": BOOTH,
                "booth_path": booth_path(BOOTH),
                "part": "listener",
                "phone": CIPHER.seal(f"+9198765432{n:02d}", "phone"),
            }
            for n in range(count)
        ]
    )
    ports = LivePorts(
        provider=Provider(),
        live=MongoLive(db, "m_", CIPHER),
        meetings=None,
        events=Recorded(),
        caller_hash=lambda phone: f"hash-{phone[-2:]}",
        callback_url="http://meetings.test/hook",
        pacing=Pacing(1000, 0),
        clock=Clock(now),
        sleep=lambda s: None,
        retry_s=5,
    )
    ports.live.queue_calls(calls(meeting_id, count, now.timestamp() - 10, 0.0))
    return meeting_id, ports


@pytest.mark.parametrize("bridges_within", [False, True], ids=["bridges-apart", "code-before"])
def test_calls_go_into_the_bridge_stored_for_them_wherever_the_meeting_keeps_its_bridges(
    mongo_db, bridges_within
):
    """Bridges live apart from the meeting's document; a meeting started by the code before
    kept them in it, and is dialled all the same."""
    meeting_id, ports = live_meeting(mongo_db, 3, AT, bridges_within=bridges_within)
    assert dial_due(ports)
    assert ports.provider.into == ["b1"] * 3
    assert ports.bridges[meeting_id] == {"1": {"bridge_id": "b1", "ref": "r1", "role": "listeners"}}


def test_a_batch_whose_write_fails_for_one_invitee_loses_no_call(mongo_db):
    now = AT
    meeting_id, ports = live_meeting(mongo_db, 3, now)
    invitees = mongo_db["m_attendance"]  # what a dial writes: the attendance documents
    broken = f"{meeting_id}/p1"
    before = mongo_db["m_invitees"].find_one({"_id": broken})
    invitees.insert_one({"_id": broken, "att": "not a document"})  # $set att.x fails
    assert dial_due(ports)
    refs = [call_ref(meeting_id, f"p{n}", 1) for n in range(3)]
    assert ports.provider.dialled == refs
    for n in (0, 2):
        doc = invitees.find_one({"_id": f"{meeting_id}/p{n}"})
        call_id = ports.provider.calls[refs[n]]
        assert doc["att"]["calls"] == {call_id: 1} and doc["att_v"] >= 1
        assert (doc["dial_bridge"], doc["caller_hash"]) == (1, f"hash-{n:02d}")
    queue = mongo_db["m_dial_queues"].find_one({"_id": f"{meeting_id}:1"})
    assert queue["held"] == {"1": now.timestamp() + ports.retry_s}, "held, to be dialled again"
    invitees.update_one({"_id": broken}, {"$unset": {"att": ""}})
    assert mongo_db["m_invitees"].find_one({"_id": broken}) == before, "the invitee unwritten"
    assert not dial_due(ports), "not before retry_s"
    ports.clock.at = now + timedelta(seconds=ports.retry_s)
    assert dial_due(ports)
    assert ports.provider.dialled == refs + [refs[1]], "the same call ref: no second call"
    doc = invitees.find_one({"_id": broken})
    assert doc["att"]["calls"] == {ports.provider.calls[refs[1]]: 1}
    queue = mongo_db["m_dial_queues"].find_one({"_id": f"{meeting_id}:1"})
    assert (queue["next"], queue.get("held") or {}) == (3, {})
    assert not dial_due(ports)


def test_a_webhook_that_read_before_the_dialler_wrote_reads_again_and_keeps_both(mongo_db):
    """The call's write changes only its own key of the attendance and moves the version, so a
    webhook's compare-and-set on what it read before fails, it reads again, nothing is lost."""
    meeting_id, ports = live_meeting(mongo_db, 1, AT)
    key = f"{meeting_id}/p0"
    ports.meetings = audio_meetings()
    ringing = ProviderEvent("e1", "call.ringing", "b1", AT, "call-0", participant_ref=key)
    provider_event(meeting_id, ringing, ports)  # told before the dialler wrote its call
    before = ports.live.invitee(key)
    assert dial_due(ports)
    state = attendance_of(before["att"])
    assert not ports.live.save_attendance(key, before["att_v"], state, {}, before)
    answered = ProviderEvent("e2", "call.answered", "b1", AT, "call-0", participant_ref=key)
    provider_event(meeting_id, answered, ports)
    att = mongo_db["m_attendance"].find_one({"_id": key})["att"]
    assert (att["rang"], att["calls"], att["outcomes"]) == (
        True,
        {"call-0": 1},
        {"call-0": "answered"},
    )


def audio_meetings():
    meeting = type("Meeting", (), {"kind": "audio_bridge"})()
    return type("Meetings", (), {"get": lambda self, meeting_id: meeting})()


def test_published_events_leave_pending_later_and_are_never_sent_twice_by_their_pod(mongo_db):
    meeting_id, ports = live_meeting(mongo_db, 1, AT)
    ports.meetings = type(
        "M", (), {"get": lambda self, i: type("X", (), {"kind": "audio_bridge"})}
    )()
    key, invitees = f"{meeting_id}/p0", mongo_db["m_attendance"]

    def leg(event_id: str, kind: str, seconds: int | None = None) -> ProviderEvent:
        return ProviderEvent(event_id, kind, "b1", AT, "c1", participant_ref=key, seconds=seconds)

    provider_event(meeting_id, leg("e1", "participant.joined"), ports)
    told = [kind for kind, _ in ports.events.sent]
    assert told == [types.CALL_ATTEMPTED, types.PARTICIPANT_JOINED]
    assert len(invitees.find_one({"_id": key})["att_pending"]) == 2, "not removed yet"
    provider_event(meeting_id, leg("e2", "participant.joined"), ports)  # a repeat, new id
    assert [kind for kind, _ in ports.events.sent] == told, "this pod sends nothing again"
    provider_event(meeting_id, leg("e3", "participant.left", seconds=30), ports)
    assert [kind for kind, _ in ports.events.sent] == told + [types.PARTICIPANT_LEFT]
    pending = invitees.find_one({"_id": key})["att_pending"]
    assert list(pending) == [ports.events.sent[-1][1]], "the earlier ones left with this update"
    other = LivePorts(**{**ports.__dict__, "live": MongoLive(mongo_db, "m_", CIPHER)})
    other.events = Recorded()
    provider_event(meeting_id, leg("e2", "participant.joined"), other)  # another pod, before
    assert other.events.sent == [ports.events.sent[-1]], "sent again, under the same id"
    assert ports.live.flush_published() == 1
    assert invitees.find_one({"_id": key})["att_pending"] == {}
    assert ports.live.flush_published() == 0


def test_a_meeting_owed_max_owed_call_outcomes_is_not_dialled_until_outcomes_come_in(mongo_db):
    """The provider owes a call's outcome from its dial until its webhook is taken: above
    max_owed a meeting's diallers wait (the webhooks' backlog stays bounded); each outcome taken
    lets one more call go. Counted in the meeting's counter, so every pod sees the same."""
    meeting_id, ports = live_meeting(mongo_db, 7, AT)
    ports.meetings, ports.dial_batch, ports.max_owed = audio_meetings(), 2, 4
    assert dial_due(ports) and dial_due(ports)
    assert len(ports.provider.dialled) == 4 and ports.live.calls_owed(meeting_id) == 4
    assert not dial_due(ports), "four owed: the meeting waits"
    assert len(ports.provider.dialled) == 4

    def outcome(n: int, kind: str) -> ProviderEvent:
        call = ports.provider.calls[call_ref(meeting_id, f"p{n}", 1)]
        ref = f"{meeting_id}/p{n}"
        return ProviderEvent(f"{kind}-{n}", kind, "b1", AT, call, participant_ref=ref)

    provider_event(meeting_id, outcome(0, "call.ringing"), ports)
    assert not dial_due(ports), "ringing is no outcome"
    provider_event(meeting_id, outcome(0, "call.answered"), ports)
    provider_event(meeting_id, outcome(0, "participant.joined"), ports)  # the same call: once
    assert ports.live.calls_owed(meeting_id) == 3
    assert dial_due(ports) and len(ports.provider.dialled) == 6, "one batch more"
    ports.live.flush_counts()
    other_pod = MongoLive(mongo_db, "m_", CIPHER)
    assert other_pod.calls_owed(meeting_id) == 5, "the counter holds what every pod sees"
    assert not dial_due(ports)
    ports.max_owed = 0  # no bound
    assert dial_due(ports) and len(ports.provider.dialled) == 7
