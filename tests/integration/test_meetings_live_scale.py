"""A state-wide meeting's live half on the real FerretDB, where only `_id` is served from an
index: the dialler's claim of the next due call and an attendance read must cost the same with a
handful or thousands of calls and invitees. The commands each step sends are recorded with
pymongo's command monitoring, so the tests count work instead of timing it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from pymongo import MongoClient, monitoring

from meetings.adapters.live import MongoLive
from meetings.conference import Attendance, ProviderEvent, counted_levels, fold
from meetings.live import LivePorts, attendance_report, count_invited, provider_event, recount
from shared.crypto.fields import FieldCipher
from shared.orgtree.levels import booth_path
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

CIPHER = FieldCipher({"k1": b"m" * 32}, "k1")
AT = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
DISTRICT = "IN-MP-D07"
READS = {"find", "findAndModify", "aggregate", "count", "distinct"}


class Commands(monitoring.CommandListener):
    """Every command the client sends, as (name, collection, body)."""

    def __init__(self):
        self.seen: list[tuple[str, str, dict]] = []

    def started(self, event):
        body = event.command
        self.seen.append((event.command_name, str(body.get(event.command_name)), dict(body)))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def db(settings):
    commands = Commands()
    client = MongoClient(settings.mongo_url, event_listeners=[commands])
    name = f"test_{random_suffix()}"
    try:
        database = client[name]
        database.commands = commands
        yield database
    finally:
        client.drop_database(name)
        client.close()


def calls(meeting_id: str, count: int, start: float, pace: float, attempt: int = 1) -> list[dict]:
    return [
        {
            "meeting_id": meeting_id,
            "invitee": f"{meeting_id}/p{n}",
            "attempt": attempt,
            "bridge": 1,
            "due_ts": start + n * pace,
        }
        for n in range(count)
    ]


def claim_commands(db, live: MongoLive, now: float) -> tuple[dict | None, list]:
    db.commands.seen.clear()
    call = live.take_call(now, hold_s=60)
    return call, list(db.commands.seen)


def test_the_dialler_claims_the_next_due_call_with_the_same_few_commands_however_long_the_queue(db):
    live = MongoLive(db, "m_", CIPHER)
    short, long_ = str(uuid.uuid4()), str(uuid.uuid4())
    live.queue_calls(calls(short, 5, 1000.0, 0.02))
    _, few = claim_commands(db, live, 1000.0)
    live.drop_calls(short)
    live.queue_calls(calls(long_, 3000, 1000.0, 0.02))
    call, many = claim_commands(db, live, 1000.0)
    assert call["invitee"] == f"{long_}/p0"
    assert len(many) == len(few), "a claim sends as many commands with 3,000 calls queued as with 5"
    assert not [c for c in many if "sort" in c[2]], "no command asks the server to sort the queue"
    calls_read = [c for c in many if c[1] == "m_calls" and c[0] in READS]
    assert calls_read and all(set(c[2]["filter"]) == {"_id"} for c in calls_read), "by _id only"


def test_a_meetings_calls_are_dropped_in_bounded_deletes_by_id_and_every_one_goes(db):
    """One delete of a state-wide meeting's 65,015 calls held FerretDB's one writer for 2 s at
    the meeting's end, while its last webhooks waited; its calls go a thousand at a time."""
    live, meeting_id, other = MongoLive(db, "m_", CIPHER), str(uuid.uuid4()), str(uuid.uuid4())
    live.queue_calls(calls(meeting_id, 2500, 1000.0, 0.02))
    live.queue_calls(calls(meeting_id, 3, 1000.0, 0.02, attempt=2))  # redials
    live.queue_calls(calls(other, 2, 1000.0, 0.02))
    stray = {"_id": f"{meeting_id}:1:9999", "meeting_id": meeting_id, "due_ts": 1.0}
    db["m_calls"].insert_one(stray)  # a call no queue names (its start died between writes)
    db.commands.seen.clear()
    live.drop_calls(meeting_id)
    deletes = [c for c in db.commands.seen if c[0] == "delete" and c[1] == "m_calls"]
    by_id = [d for c in deletes for d in c[2]["deletes"] if set(d["q"]) == {"_id"}]
    assert sorted(len(d["q"]["_id"]["$in"]) for d in by_id) == [3, 500, 1000, 1000]
    assert db["m_calls"].count_documents({"meeting_id": meeting_id}) == 0
    assert db["m_dial_queues"].count_documents({"meeting_id": meeting_id}) == 0
    assert db["m_calls"].count_documents({"meeting_id": other}) == 2, "another meeting's stay"


def test_due_calls_are_taken_in_order_once_each_and_a_lapsed_hold_is_taken_again(db):
    live, meeting_id = MongoLive(db, "m_", CIPHER), str(uuid.uuid4())
    live.queue_calls(calls(meeting_id, 4, 1000.0, 1.0))
    live.queue_calls(calls(meeting_id, 4, 1000.0, 1.0))  # a retried start queues nothing twice
    first, second = live.take_call(1001.5, hold_s=60), live.take_call(1001.5, hold_s=60)
    assert [first["invitee"], second["invitee"]] == [f"{meeting_id}/p0", f"{meeting_id}/p1"]
    assert live.take_call(1001.5, hold_s=60) is None, "the third is not due yet"
    live.call_made(first["_id"])
    live.call_later(second["_id"], 1002.0)  # the provider asked to wait
    assert live.take_call(1002.0, hold_s=60)["_id"] == second["_id"]
    live.call_made(second["_id"])
    assert live.take_call(1002.5, hold_s=60)["invitee"] == f"{meeting_id}/p2"  # then its pod dies
    redials = calls(meeting_id, 2, 1100.0, 0.0, attempt=2)
    live.queue_calls(redials[:1])
    live.queue_calls(redials[1:])
    taken = [live.take_call(1200.0, hold_s=60) for _ in range(5)]
    assert [(c["invitee"], c["attempt"]) for c in taken if c] == [
        (f"{meeting_id}/p2", 1),  # its hold lapsed: taken again first
        (f"{meeting_id}/p3", 1),
        (f"{meeting_id}/p0", 2),
        (f"{meeting_id}/p1", 2),
    ], "due calls in order, each once"


class Recorded:
    def __init__(self):
        self.sent = []

    def emit(self, event_type, data, event_id=None):
        self.sent.append(event_type)

    def flush(self, timeout=10.0):
        pass


class OneMeeting:
    def __init__(self, meeting_id):
        self.meeting_id = meeting_id

    def get(self, meeting_id):
        if meeting_id != self.meeting_id:
            return None
        return type("M", (), {"meeting_id": meeting_id, "kind": "audio_bridge", "room": None})()


def invitee_docs(meeting_id: str, count: int) -> list[dict]:
    booths = [f"{DISTRICT}-A0{1 + n % 2}-M01-S01-B{n // 2 + 1:03d}" for n in range(count)]
    return [
        {
            "_id": f"{meeting_id}/p{n}",
            "meeting_id": meeting_id,
            "participant_id": f"p{n}",
            "booth_id": booth,
            "booth_path": booth_path(booth),
            "part": "listener",
        }
        for n, booth in enumerate(booths)
    ]


def joined(meeting_id: str, n: int) -> ProviderEvent:
    return ProviderEvent(
        f"e{n}", "participant.joined", "b1", AT, f"c{n}", participant_ref=f"{meeting_id}/p{n}"
    )


def test_attendance_is_read_from_the_units_counter_without_touching_an_invitee(db):
    meeting_id = str(uuid.uuid4())
    docs = invitee_docs(meeting_id, 2000)
    db["m_invitees"].insert_many(docs)
    ports = LivePorts(
        provider=None,
        live=MongoLive(db, "m_", CIPHER),
        meetings=OneMeeting(meeting_id),
        events=Recorded(),
        caller_hash=str,
        callback_url="http://meetings.test/hook",
    )
    count_invited(meeting_id, docs, ports)
    for n in (0, 1, 3):
        provider_event(meeting_id, joined(meeting_id, n), ports)
    provider_event(meeting_id, joined(meeting_id, 0), ports)  # the provider's repeat counts once
    ports.live.flush_counts()
    db.commands.seen.clear()
    report = attendance_report(meeting_id, DISTRICT, ports)
    assert report["totals"]["invited"] == 2000 and report["totals"]["joined"] == 3
    assert [(u["unit_id"], u["invited"], u["joined"]) for u in report["units"]] == [
        (f"{DISTRICT}-A01", 1000, 1),
        (f"{DISTRICT}-A02", 1000, 2),
    ]
    touched = {collection for _, collection, _ in db.commands.seen}
    assert "m_invitees" not in touched and len(db.commands.seen) == 1, "one counter by _id"
    booth = attendance_report(meeting_id, docs[1]["booth_id"], ports)
    assert booth["totals"]["joined"] == 1 and booth["units"] == []


def invited_meeting(db, count: int) -> tuple[str, list[dict], LivePorts]:
    """A meeting of `count` invitees stored and counted as invited, on the live store."""
    meeting_id = str(uuid.uuid4())
    docs = invitee_docs(meeting_id, count)
    db["m_invitees"].insert_many(docs)
    live = MongoLive(db, "m_", CIPHER)
    ports = LivePorts(None, live, OneMeeting(meeting_id), Recorded(), str, "http://m.test/hook")
    count_invited(meeting_id, docs, ports)
    return meeting_id, docs, ports


def test_the_end_recount_puts_back_what_a_lost_counting_left_out(db):
    meeting_id, docs, ports = invited_meeting(db, 4)
    live = ports.live
    # a pod that died between the compare-and-set and the counting: stored, not counted
    state, _ = fold(Attendance(), joined(meeting_id, 2), "dial_out")
    key = docs[2]["_id"]
    assert live.save_attendance(key, 0, state, {}, live.invitee(key))
    assert attendance_report(meeting_id, DISTRICT, ports)["totals"]["joined"] == 0
    assert recount(meeting_id, ports)["joined"] == 1
    assert attendance_report(meeting_id, DISTRICT, ports)["totals"]["joined"] == 1


def test_a_burst_of_webhooks_writes_each_counter_once_per_flush_not_once_per_webhook(db):
    meeting_id, docs, ports = invited_meeting(db, 24)
    live = ports.live
    db.commands.seen.clear()
    for n in range(24):
        provider_event(meeting_id, joined(meeting_id, n), ports)
    counted = [c for c in db.commands.seen if c[1] == "m_attendance_counts"]
    assert counted == [], "the webhooks only tally"
    touched = {unit for doc in docs for unit, _ in counted_levels(doc["booth_id"])}
    assert live.flush_counts() == len(touched) == 10  # *, IN, state, district, 2 x (A, M, S)
    writes = [c for c in db.commands.seen if c[1] == "m_attendance_counts"]
    assert len(writes) == 1 and len(writes[0][2]["updates"]) == 10, "one $inc per counter"
    report = attendance_report(meeting_id, DISTRICT, ports)
    assert (report["totals"]["invited"], report["totals"]["joined"]) == (24, 24)
    assert live.flush_counts() == 0, "nothing twice"
    assert attendance_report(meeting_id, None, ports)["totals"]["joined"] == 24


def test_a_recount_drops_what_the_pod_had_tallied_so_nothing_counts_twice(db):
    meeting_id, docs, ports = invited_meeting(db, 4)
    live = ports.live
    provider_event(meeting_id, joined(meeting_id, 1), ports)  # tallied, not written yet
    assert recount(meeting_id, ports)["joined"] == 1
    live.flush_counts()
    assert attendance_report(meeting_id, DISTRICT, ports)["totals"]["joined"] == 1
