"""The meetings' handlers on in-memory ports (tests/fakes/meetings.py): scheduling, the outbox,
and the background jobs that invite, notify and remind."""

import uuid
from datetime import datetime, timedelta

import pytest

from meetings import handlers, links
from meetings.commands import CancelMeeting, ForgetAppointee, InviteAudience, ScheduleMeeting
from meetings.domain import (
    AUDIO,
    CANCEL_NOTICE,
    INVITE,
    NOTIFY,
    REMIND,
    VIDEO,
    Refused,
    Speaker,
    message_id,
)
from shared.events import types
from shared.events.contracts import validate
from shared.sending.policy import IST
from tests.fakes.meetings import NOW, make_ports, recipient

DISTRICT = "IN-MP-D07"
BOOTHS = [f"IN-MP-D07-A0{a}-M01-S01-B00{b}" for a in (1, 2) for b in (1, 2, 3)]
STARTS = datetime(2030, 1, 2, 18, 0, tzinfo=IST)


def appointees(count_per_booth: int = 1, role: str = "booth_president"):
    return [
        recipient(booth, str(uuid.uuid4()), role, locale="en" if i % 2 else "hi")
        for i, booth in enumerate(BOOTHS)
        for _ in range(count_per_booth)
    ]


def schedule(**changes) -> ScheduleMeeting:
    values = dict(
        organiser="user-mp",
        organiser_unit="IN-MP",
        kind=AUDIO,
        scope=(DISTRICT,),
        audience=("booth_president",),
        title={"hi": "बैठक", "en": "Meeting"},
        starts_at=STARTS,
        duration_minutes=60,
        idempotency_key="k1",
    )
    values.update(changes)
    return ScheduleMeeting(**values)


def test_scheduling_stores_the_meeting_and_publishes_meeting_scheduled_once():
    ports = make_ports(appointees())
    [meeting], created = handlers.schedule_meeting(schedule(), ports)
    again, created_again = handlers.schedule_meeting(schedule(), ports)
    assert created and not created_again
    assert again == [meeting] and meeting.published
    [data] = ports.events.of_type(types.MEETING_SCHEDULED)
    validate(types.MEETING_SCHEDULED, data)
    assert data["meeting_id"] == meeting.meeting_id and "pin" not in data


def test_a_meeting_kafka_did_not_take_is_published_by_the_relay():
    ports = make_ports(appointees())
    ports.events.down = True
    [meeting], _ = handlers.schedule_meeting(schedule(), ports)
    assert not ports.meetings.get(meeting.meeting_id).published
    ports.events.down = False
    assert handlers.relay_outbox(ports) == 1
    assert ports.meetings.get(meeting.meeting_id).published
    assert handlers.relay_outbox(ports) == 0


def test_a_meeting_in_quiet_hours_is_refused_and_nothing_is_stored():
    ports = make_ports(appointees())
    with pytest.raises(Refused) as refused:
        handlers.schedule_meeting(schedule(starts_at=STARTS.replace(hour=23)), ports)
    assert refused.value.kind == "outside-sending-window"
    assert ports.meetings.meetings == {} and ports.events.published == []


def test_an_unknown_scope_unit_is_refused():
    ports = make_ports(appointees())
    with pytest.raises(Refused) as refused:
        handlers.schedule_meeting(schedule(scope=("IN-MP-D99",)), ports)
    assert refused.value.kind == "unknown-unit"


def test_the_audience_is_invited_announced_and_messaged_without_a_phone_in_any_event():
    people = appointees(count_per_booth=2) + appointees(role="whatsapp_pramukh")
    ports = make_ports(people, batch=4)
    [meeting], _ = handlers.schedule_meeting(schedule(), ports)
    assert handlers.run_due(ports)
    presidents = {p.appointment_id for p in people if p.role == "booth_president"}
    invited = ports.events.of_type(types.PARTICIPANT_INVITED)
    assert {e["participant_id"] for e in invited} == presidents
    for data in invited:
        validate(types.PARTICIPANT_INVITED, data)
        assert "+91" not in str(data)
    assert {p for (_, p) in ports.invitees.invitees} == presidents
    messages = list(ports.messages.sent.values())
    assert {m["appointment_id"] for m in messages} == presidents
    assert all("123456" in m["text"] and m["lane"] == "normal" for m in messages)
    assert not handlers.run_due(ports)  # the reminder is not due yet


def test_a_video_invitation_carries_the_invitees_own_join_link():
    people = appointees()
    ports = make_ports(people)
    handlers.schedule_meeting(schedule(kind=VIDEO, room="per_meeting"), ports)
    handlers.run_due(ports)
    for message in ports.messages.sent.values():
        token = message["text"].rsplit("/j/", 1)[1]
        claim = links.read(ports.links.key, token)
        assert claim.participant_id == message["appointment_id"]
        assert claim.booth_id == message["booth_id"]


def test_the_reminder_goes_shortly_before_the_start_with_its_own_message_ids():
    people = appointees()
    clock = [NOW]
    ports = make_ports(people, clock=lambda: clock[0])
    handlers.schedule_meeting(schedule(), ports)
    handlers.run_due(ports)
    invitations = set(ports.messages.sent)
    clock[0] = STARTS - timedelta(minutes=14)
    assert handlers.run_due(ports)
    reminders = set(ports.messages.sent) - invitations
    assert len(reminders) == len(people)
    assert all(ports.messages.sent[m]["text"].startswith(("Reminder", "याद")) for m in reminders)


def test_a_job_cut_short_resumes_at_its_first_unfinished_chunk_and_sends_nothing_twice():
    people = appointees()
    clock = [NOW]
    ports = make_ports(people, clock=lambda: clock[0])
    [meeting], _ = handlers.schedule_meeting(schedule(scope=("IN-MP",)), ports)
    ports.recipients.failing = {"IN-MP-D07"}
    handlers.run_due(ports)  # the state reads district by district: the one district fails
    assert ports.events.of_type(types.PARTICIPANT_INVITED) == []
    ports.recipients.failing = set()
    assert not handlers.run_due(ports)  # waits out the retry pause
    clock[0] = NOW + handlers.JOB_RETRY + timedelta(seconds=1)
    assert handlers.run_due(ports)
    assert len(ports.events.of_type(types.PARTICIPANT_INVITED)) == len(people)
    assert len(ports.messages.sent) == len(people)
    assert ports.meetings.chunks_done(meeting.meeting_id, INVITE) == {"IN-MP-D07", "speakers"}


def test_the_notifier_away_delays_the_invitations_but_not_the_events():
    people = appointees()
    clock = [NOW]
    ports = make_ports(people, clock=lambda: clock[0])
    [meeting], _ = handlers.schedule_meeting(schedule(), ports)
    ports.messages.down = True
    handlers.run_due(ports)
    assert len(ports.events.of_type(types.PARTICIPANT_INVITED)) == len(people)
    assert ports.messages.sent == {}
    ports.messages.down = False
    clock[0] = NOW + handlers.JOB_RETRY + timedelta(seconds=1)
    handlers.run_due(ports)
    assert len(ports.messages.sent) == len(people)
    assert ports.meetings.jobs[meeting.meeting_id][NOTIFY]["done_at"] is not None


def test_a_speaker_outside_the_audience_is_invited_as_a_speaker_and_a_listener_stays_one():
    speaker = recipient("IN-MP-D07-A01-M01-S01-B001", str(uuid.uuid4()), "it_social_media")
    people = appointees() + [speaker]
    ports = make_ports(people)
    cmd = schedule(speakers=(Speaker(speaker.appointment_id, speaker.booth_id, "speaker"),))
    [meeting], _ = handlers.schedule_meeting(cmd, ports)
    handlers.run_due(ports)
    stored = ports.invitees.get(meeting.meeting_id, speaker.appointment_id)
    assert stored is not None and stored.part == "speaker"
    listener = people[0]
    assert ports.invitees.get(meeting.meeting_id, listener.appointment_id).part == "listener"


def test_a_cancelled_meeting_invites_no_one_and_cannot_be_cancelled_twice():
    ports = make_ports(appointees())
    [meeting], _ = handlers.schedule_meeting(schedule(), ports)
    handlers.cancel_meeting(CancelMeeting(meeting.meeting_id, "user-mp"), ports)
    handlers.run_due(ports)  # only the cancel notice runs, and finds nobody invited to tell
    assert ports.invitees.invitees == {} and ports.messages.sent == {}
    with pytest.raises(Refused) as refused:
        handlers.cancel_meeting(CancelMeeting(meeting.meeting_id, "user-mp"), ports)
    assert refused.value.status == 409
    assert ports.meetings.jobs[meeting.meeting_id][REMIND]["done_at"] is None


def test_an_erased_appointee_keeps_no_phone_in_any_invitation():
    people = appointees()
    ports = make_ports(people)
    handlers.schedule_meeting(schedule(), ports)
    handlers.schedule_meeting(
        schedule(idempotency_key="k2", starts_at=STARTS.replace(hour=19)), ports
    )
    handlers.run_due(ports)
    erased = people[0].appointment_id
    assert handlers.forget_erased(ForgetAppointee(erased, str(uuid.uuid4())), ports) == 2
    kept = [i for (_, p), i in ports.invitees.invitees.items() if p == erased]
    assert len(kept) == 2 and all(i.phone == "" for i in kept)


def test_an_organisers_cancel_is_announced_and_everyone_invited_is_told_once_without_the_pin():
    people = appointees()
    ports = make_ports(people)
    [meeting], _ = handlers.schedule_meeting(schedule(), ports)
    handlers.run_due(ports)  # invited and sent the invitation
    handlers.cancel_meeting(CancelMeeting(meeting.meeting_id, "user-mp"), ports)
    [announced] = ports.events.of_type(types.MEETING_CANCELLED)
    validate(types.MEETING_CANCELLED, announced)
    assert (announced["meeting_id"], announced["reason"]) == (meeting.meeting_id, "organiser")
    handlers.run_due(ports)
    handlers.run_due(ports)
    told = [
        ports.messages.sent[message_id(meeting.meeting_id, p.appointment_id, CANCEL_NOTICE)]
        for p in people
    ]
    assert len(ports.messages.sent) == 2 * len(people)  # the invitation, then the cancellation
    for message, person in zip(told, people):
        opening = "Cancelled: Meeting" if person.locale == "en" else "रद्द: बैठक"
        assert message["text"].startswith(opening) and "123456" not in message["text"]
    assert ports.meetings.progress(meeting.meeting_id)[CANCEL_NOTICE]["reached"] == len(people)


def test_a_cancel_while_invitations_go_out_stops_them_and_tells_only_those_already_sent_one():
    people = appointees()
    ports = make_ports(people, clock=lambda: now[0])
    now = [NOW]
    [meeting], _ = handlers.schedule_meeting(
        schedule(scope=("IN-MP-D07-A01", "IN-MP-D07-A02")), ports
    )
    handlers.invite_audience(InviteAudience(meeting.meeting_id), ports)
    # Another process is sending the invitations and has finished the first assembly seat.
    assert ports.meetings.claim(meeting.meeting_id, NOTIFY, NOW, NOW + timedelta(minutes=10))
    sent = [p for p in people if p.booth_id.startswith("IN-MP-D07-A01")]
    ports.messages.send(
        [{"message_id": message_id(meeting.meeting_id, p.appointment_id, NOTIFY), "phone": p.phone}
         for p in sent]
    )  # fmt: skip
    ports.meetings.chunk_done(meeting.meeting_id, NOTIFY, "IN-MP-D07-A01", len(sent))
    handlers.cancel_meeting(CancelMeeting(meeting.meeting_id, "user-mp"), ports)
    handlers.run_due(ports)
    assert not [
        m for m in ports.messages.sent if "Cancelled" in ports.messages.sent[m].get("text", "")
    ]
    handlers._JOBS[NOTIFY](meeting, ports)  # that process goes on, sees the cancel, stops
    now[0] = NOW + timedelta(seconds=10)
    handlers.run_due(ports)
    cancels = {message_id(meeting.meeting_id, p.appointment_id, CANCEL_NOTICE) for p in people}
    told = [m for m in ports.messages.sent if m in cancels]
    assert len(told) == len(sent) == 3
    notified = {message_id(meeting.meeting_id, p.appointment_id, NOTIFY) for p in people}
    assert len([m for m in ports.messages.sent if m in notified]) == len(sent)


def test_a_cancellation_kafka_did_not_take_is_published_by_the_relay():
    ports = make_ports(appointees())
    [meeting], _ = handlers.schedule_meeting(schedule(), ports)
    ports.events.down = True
    handlers.cancel_meeting(CancelMeeting(meeting.meeting_id, "user-mp"), ports)
    assert ports.events.of_type(types.MEETING_CANCELLED) == []
    ports.events.down = False
    assert handlers.relay_outbox(ports) == 1
    assert len(ports.events.of_type(types.MEETING_CANCELLED)) == 1
    assert handlers.relay_outbox(ports) == 0
