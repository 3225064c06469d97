"""One contract, two implementations: every test body runs against the meetings' in-memory ports
(tests/fakes/meetings.py) and the real adapters (the meeting and invitee stores on FerretDB, the
notifier's /v1/messages as a running notifier), so the fakes cannot drift from the real ones."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from meetings.adapters.live import MongoLive
from meetings.adapters.messages import NotifierMessages
from meetings.adapters.store import MongoInvitees, MongoMeetings
from meetings.domain import (
    AUDIO,
    CANCEL_NOTICE,
    INVITE,
    NOTIFY,
    REMIND,
    Guest,
    Invitee,
    Meeting,
    Speaker,
)
from shared.auth.keys import LOCAL_TOKENS
from shared.crypto.fields import FieldCipher
from shared.orgtree.levels import booth_path
from testkit.phones import indian_mobile
from tests.fakes.meetings import InMemoryInvitees, InMemoryMeetings, RecordingMessages
from tests.integration.test_notifier_messages import stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

CIPHER = FieldCipher({"k1": b"m" * 32}, "k1")
NOW = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)  # whole seconds: MongoDB keeps ms
BOOTH = "IN-HP-D01-A01-M01-S01-B001"
PHONE = "+919812345678"


@pytest.fixture(params=["in-memory", "mongodb"])
def meetings(request):
    if request.param == "in-memory":
        return InMemoryMeetings()
    return MongoMeetings(request.getfixturevalue("mongo_db"), "m_", CIPHER)


@pytest.fixture(params=["in-memory", "mongodb"])
def invitees(request):
    if request.param == "in-memory":
        return InMemoryInvitees()
    return MongoInvitees(request.getfixturevalue("mongo_db"), "m_", CIPHER)


@pytest.fixture(params=["in-memory", "notifier"])
def messages(request):
    if request.param == "in-memory":
        return RecordingMessages()
    running = request.getfixturevalue("stack")
    return NotifierMessages(running.notifier, LOCAL_TOKENS / "meetings.jwt", 30.0)


def a_meeting(**changes) -> Meeting:
    meeting_id = str(uuid.uuid4())
    values = dict(
        meeting_id=meeting_id,
        series_id=meeting_id,
        kind=AUDIO,
        organiser="user-hp",
        organiser_unit="IN-HP",
        scope=("IN-HP-D01",),
        audience=("booth_president",),
        title={"hi": "बैठक", "en": "Meeting"},
        starts_at=NOW + timedelta(days=1),
        duration_minutes=45,
        scheduled_at=NOW,
        pin="482913",
        speakers=(Speaker(str(uuid.uuid4()), BOOTH, "speaker"),),
        guests=(Guest(str(uuid.uuid4()), "Guest speaker", PHONE, "moderator"),),
        event_id=str(uuid.uuid4()),
    )
    values.update(changes)
    return Meeting(**values)


def dues(meeting: Meeting) -> dict:
    return {INVITE: NOW, NOTIFY: NOW, REMIND: meeting.starts_at - timedelta(minutes=15)}


def an_invitee(meeting_id: str, participant_id: str | None = None) -> Invitee:
    return Invitee(
        meeting_id=meeting_id,
        participant_id=participant_id or str(uuid.uuid4()),
        booth_id=BOOTH,
        booth_path=booth_path(BOOTH),
        role="booth_president",
        locale="hi",
        phone=PHONE,
        invited_at=NOW,
    )


# --- meetings ----------------------------------------------------------------------------------


def test_a_meeting_reads_back_as_stored_once_and_unpublished_until_marked(meetings):
    meeting = a_meeting()
    assert meetings.insert(meeting, dues(meeting))
    assert not meetings.insert(meeting, dues(meeting))
    assert meetings.get(meeting.meeting_id) == meeting
    assert meeting.meeting_id in {m.meeting_id for m in meetings.unpublished(100)}
    meetings.mark_published(meeting.meeting_id)
    assert meetings.get(meeting.meeting_id).published
    assert meeting.meeting_id not in {m.meeting_id for m in meetings.unpublished(100)}


def test_a_guests_phone_is_sealed_at_rest(mongo_db):
    meeting = a_meeting()
    MongoMeetings(mongo_db, "m_", CIPHER).insert(meeting, dues(meeting))
    stored = mongo_db["m_meetings"].find_one({"_id": meeting.meeting_id})
    assert PHONE not in str(stored) and stored["guests"][0]["phone"].startswith("pd1.")


def test_a_job_is_due_once_claimed_by_one_and_resumes_at_its_unfinished_chunks(meetings):
    meeting = a_meeting()
    meetings.insert(meeting, dues(meeting))
    assert [m.meeting_id for m in meetings.due(INVITE, NOW, 10)] == [meeting.meeting_id]
    assert meetings.due(REMIND, NOW, 10) == []
    assert meetings.claim(meeting.meeting_id, INVITE, NOW, NOW + timedelta(minutes=10))
    assert not meetings.claim(meeting.meeting_id, INVITE, NOW, NOW + timedelta(minutes=10))
    assert meetings.due(INVITE, NOW, 10) == []
    meetings.chunk_done(meeting.meeting_id, INVITE, "IN-HP-D01", 12)
    meetings.chunk_done(meeting.meeting_id, INVITE, "IN-HP-D01", 12)  # a repeat counts once
    meetings.release(meeting.meeting_id, INVITE, NOW + timedelta(seconds=15))
    later = NOW + timedelta(seconds=16)
    assert [m.meeting_id for m in meetings.due(INVITE, later, 10)] == [meeting.meeting_id]
    assert meetings.chunks_done(meeting.meeting_id, INVITE) == {"IN-HP-D01"}
    assert meetings.progress(meeting.meeting_id)[INVITE] == {"reached": 12, "done_at": None}
    meetings.job_done(meeting.meeting_id, INVITE, later)
    assert meetings.due(INVITE, later, 10) == []
    assert meetings.progress(meeting.meeting_id)[INVITE]["done_at"] == later


def test_a_reminder_not_needed_is_never_due(meetings):
    meeting = a_meeting()
    meetings.insert(meeting, {**dues(meeting), REMIND: None})
    assert meetings.due(REMIND, NOW + timedelta(days=2), 10) == []


def test_a_cancelled_meeting_is_cancelled_once_and_runs_no_job(meetings):
    meeting = a_meeting()
    meetings.insert(meeting, dues(meeting))
    assert meetings.cancel(meeting.meeting_id, "user-hp", NOW).state == "cancelled"
    assert meetings.cancel(meeting.meeting_id, "user-hp", NOW) is None
    assert meetings.due(INVITE, NOW, 10) == []


def test_a_unit_lists_what_it_held_and_what_reaches_it_soonest_first(meetings):
    unit = f"IN-T{secrets.randbelow(10**6)}"
    later = a_meeting(organiser_unit=unit, scope=(f"{unit}-D01",), starts_at=NOW + timedelta(2))
    sooner = a_meeting(organiser_unit="IN", scope=(unit,), starts_at=NOW + timedelta(1))
    elsewhere = a_meeting(organiser_unit="IN-XX", scope=("IN-XX",))
    for meeting in (later, sooner, elsewhere):
        meetings.insert(meeting, dues(meeting))
    found = [m.meeting_id for m in meetings.for_unit(unit, 10)]
    assert found == [sooner.meeting_id, later.meeting_id]


# --- invitees ----------------------------------------------------------------------------------


def test_an_invitee_is_stored_once_and_reads_back(invitees):
    meeting_id = str(uuid.uuid4())
    first = [an_invitee(meeting_id) for _ in range(3)]
    assert invitees.add(first) == 3
    assert invitees.add(first + [an_invitee(meeting_id)]) == 1
    assert invitees.get(meeting_id, first[0].participant_id) == first[0]
    assert invitees.get(meeting_id, str(uuid.uuid4())) is None


def test_an_erased_appointee_keeps_no_phone_in_any_meeting(invitees):
    person = str(uuid.uuid4())
    one, other = str(uuid.uuid4()), str(uuid.uuid4())
    invitees.add([an_invitee(one, person), an_invitee(other, person), an_invitee(one)])
    assert invitees.forget_phone(person) == 2
    assert invitees.get(one, person).phone == "" and invitees.get(other, person).phone == ""
    assert invitees.forget_phone(person) == 0


def test_an_erased_appointee_keeps_no_caller_hash_to_match_their_dial_in(mongo_db):
    person, meeting_id = str(uuid.uuid4()), str(uuid.uuid4())
    invitee, other = an_invitee(meeting_id, person), an_invitee(meeting_id)
    MongoInvitees(mongo_db, "m_", CIPHER).add([invitee, other])
    live = MongoLive(mongo_db, "m_", CIPHER)
    for who in (invitee, other):
        live.note_call(
            f"{meeting_id}/{who.participant_id}", f"hash-{who.participant_id}", 3, who.booth_id
        )
    mongo_db["m_invitees"].update_one(  # a meeting started by the code before kept it here
        {"_id": f"{meeting_id}/{person}"}, {"$set": {"caller_hash": f"hash-{person}"}}
    )

    assert MongoInvitees(mongo_db, "m_", CIPHER).forget_phone(person) == 1
    assert live.by_caller(meeting_id, f"hash-{person}") is None
    erased = mongo_db["m_attendance"].find_one({"_id": f"{meeting_id}/{person}"})
    assert "caller_hash" not in erased and erased["dial_bridge"] == 3
    assert "caller_hash" not in mongo_db["m_invitees"].find_one({"_id": f"{meeting_id}/{person}"})
    assert live.by_caller(meeting_id, f"hash-{other.participant_id}") is not None  # others kept


def test_the_invitee_document_is_the_documented_shape_with_a_sealed_phone(mongo_db):
    invitee = an_invitee(str(uuid.uuid4()))
    MongoInvitees(mongo_db, "m_", CIPHER).add([invitee])
    stored = mongo_db["m_invitees"].find_one()
    assert stored["_id"] == f"{invitee.meeting_id}/{invitee.participant_id}"
    assert set(stored) == {
        "_id",
        "meeting_id",
        "participant_id",
        "booth_id",
        "booth_path",
        "role",
        "part",
        "locale",
        "channel",
        "phone",
        "invited_at",
    }
    assert PHONE not in str(stored)


# --- the notifier's messages -------------------------------------------------------------------


def invitation(phone: str | None = None) -> dict:
    return {
        "message_id": str(uuid.uuid4()),
        "appointment_id": str(uuid.uuid4()),
        "booth_id": BOOTH,
        "phone": phone or indian_mobile(spaced=False),
        "channel": "sms",
        "locale": "hi",
        "text": "बैठक: कल 18:00 IST. +911140000700 डायल करें, पिन 482913",
        "lane": "normal",
    }


def test_messages_are_queued_once_whatever_the_retries(messages):
    batch = [invitation() for _ in range(3)]
    assert messages.send(batch) == (3, 0)
    assert messages.send(batch) == (0, 3)


def test_a_message_the_notifier_cannot_send_is_left_out_and_the_others_go(messages):
    batch = [invitation(), invitation(phone="12"), invitation()]
    assert messages.send(batch) == (2, 0)
    assert messages.send([batch[0], batch[2]]) == (0, 2)


def test_an_organisers_cancel_keeps_its_event_and_its_notice_job_until_done(meetings):
    meeting = a_meeting()
    meetings.insert(meeting, dues(meeting))
    meetings.mark_published(meeting.meeting_id)
    cancelled = meetings.cancel(meeting.meeting_id, "user-hp", NOW)
    assert (cancelled.cancel_reason, cancelled.cancelled_at) == ("organiser", NOW)
    assert [m.meeting_id for m in meetings.cancel_unpublished(10)] == [meeting.meeting_id]
    meetings.mark_cancel_published(meeting.meeting_id)
    assert meetings.cancel_unpublished(10) == []
    assert meetings.due(NOTIFY, NOW, 10) == []
    [due] = meetings.due(CANCEL_NOTICE, NOW, 10)
    assert due.meeting_id == meeting.meeting_id and due.state == "cancelled"
    assert meetings.job_idle(meeting.meeting_id, NOTIFY, NOW)
    meetings.job_done(meeting.meeting_id, CANCEL_NOTICE, NOW)
    assert meetings.due(CANCEL_NOTICE, NOW, 10) == []


def test_a_notify_job_held_by_a_process_is_not_idle_until_its_lease_lapses(meetings):
    meeting = a_meeting()
    meetings.insert(meeting, dues(meeting))
    assert meetings.claim(meeting.meeting_id, NOTIFY, NOW, NOW + timedelta(minutes=10))
    assert not meetings.job_idle(meeting.meeting_id, NOTIFY, NOW + timedelta(minutes=5))
    assert meetings.job_idle(meeting.meeting_id, NOTIFY, NOW + timedelta(minutes=11))


def test_a_meeting_whose_start_is_claimed_cannot_be_cancelled(mongo_db):
    prefix = f"c{secrets.randbelow(10**6)}_"
    meetings = MongoMeetings(mongo_db, prefix, CIPHER)
    meeting = a_meeting()
    meetings.insert(meeting, dues(meeting))
    meetings.job_done(meeting.meeting_id, INVITE, NOW)
    live = MongoLive(mongo_db, prefix, CIPHER)
    assert live.claim_start(meeting.starts_at, "pod-1", 60) == meeting.meeting_id
    assert meetings.cancel(meeting.meeting_id, "user-hp", meeting.starts_at) is None
    assert meetings.get(meeting.meeting_id).state == "scheduled"
