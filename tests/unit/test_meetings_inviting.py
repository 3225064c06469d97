"""Inviting a state's audience (meetings.inviting through handlers.run_due, on in-memory ports):
the events go out while the store is still writing, chunks are read at once, and a chunk is
recorded only once stored and confirmed."""

import threading
import uuid
from datetime import timedelta

from meetings import handlers
from meetings.domain import INVITE
from shared.events import types
from tests.fakes.meetings import NOW, make_ports, recipient
from tests.unit.test_meetings_handlers import schedule

DISTRICTS = [f"IN-MP-D0{d}" for d in range(1, 5)]


def state_audience(per_district: int = 3):
    return [
        recipient(f"{district}-A01-M01-S01-B00{n + 1}", str(uuid.uuid4()))
        for district in DISTRICTS
        for n in range(per_district)
    ]


class HeldStore:
    """The invitee store, holding every write until `release` (a slow FerretDB)."""

    def __init__(self, store):
        self.store, self.released, self.waiting = store, threading.Event(), 0

    def add(self, invitees):
        self.waiting += 1
        assert self.released.wait(10), "never released"
        return self.store.add(invitees)

    def __getattr__(self, name):
        return getattr(self.store, name)


def run_in_background(ports) -> threading.Thread:
    job = threading.Thread(target=handlers.run_due, args=(ports,), daemon=True)
    job.start()
    return job


def wait_for(condition, seconds: float = 10) -> bool:
    stop = threading.Event()
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        stop.wait(0.02)
    return False


def test_every_district_is_announced_while_the_store_is_still_writing_the_first():
    people = state_audience()
    ports = make_ports(people, batch=2)
    ports.invitees = held = HeldStore(ports.invitees)
    [meeting], _ = handlers.schedule_meeting(schedule(scope=("IN-MP",)), ports)
    job = run_in_background(ports)
    announced = lambda: [e for e in ports.events.queued if e[0] == types.PARTICIPANT_INVITED]  # noqa: E731
    assert wait_for(lambda: len(announced()) == len(people)), "events wait for the store"
    assert ports.meetings.chunks_done(meeting.meeting_id, INVITE) == set(), "nothing stored yet"
    held.released.set()
    job.join(10)
    assert len(ports.events.of_type(types.PARTICIPANT_INVITED)) == len(people)
    assert len(held.store.invitees) == len(people)
    assert ports.meetings.chunks_done(meeting.meeting_id, INVITE) == {*DISTRICTS, "speakers"}


def test_batches_announced_ahead_of_the_store_are_bounded():
    people = state_audience(per_district=4)  # batches of 2, all full
    ports = make_ports(people, batch=2, invite_ahead=2)
    ports.invitees = held = HeldStore(ports.invitees)
    handlers.schedule_meeting(schedule(scope=("IN-MP",)), ports)
    job = run_in_background(ports)
    announced = lambda: len([e for e in ports.events.queued if e[0] == types.PARTICIPANT_INVITED])  # noqa: E731
    assert wait_for(lambda: announced() == 4), "two batches go out before the store took any"
    assert not wait_for(lambda: announced() > 4, seconds=0.5), "a third waits for the store"
    held.released.set()
    job.join(10)
    assert len(ports.events.of_type(types.PARTICIPANT_INVITED)) == len(people)


class SlowStarts:
    """The appointments service answering each stream only once `streams` are open at once."""

    def __init__(self, recipients, streams: int):
        self.recipients, self.open, self.all_open = recipients, 0, threading.Barrier(streams)

    def stream(self, unit_id, roles):
        self.all_open.wait(10)  # raises BrokenBarrierError if they are read one at a time
        yield from self.recipients.stream(unit_id, roles)


def test_a_states_districts_are_read_at_once_not_one_after_another():
    people = state_audience()
    ports = make_ports(people, invite_streams=4)
    ports.recipients = SlowStarts(ports.recipients, streams=4)
    [meeting], _ = handlers.schedule_meeting(schedule(scope=("IN-MP",)), ports)
    assert handlers.run_due(ports)
    assert len(ports.events.of_type(types.PARTICIPANT_INVITED)) == len(people)
    assert ports.meetings.chunks_done(meeting.meeting_id, INVITE) >= set(DISTRICTS)


def test_a_district_that_fails_lets_the_others_finish_and_alone_is_invited_again():
    people = state_audience()
    clock = [NOW]
    ports = make_ports(people, clock=lambda: clock[0])
    [meeting], _ = handlers.schedule_meeting(schedule(scope=("IN-MP",)), ports)
    ports.recipients.failing = {"IN-MP-D03"}
    handlers.run_due(ports)
    done = ports.meetings.chunks_done(meeting.meeting_id, INVITE)
    assert "IN-MP-D03" not in done and {"IN-MP-D01", "IN-MP-D02", "IN-MP-D04"} <= done
    ports.recipients.failing = set()
    clock[0] = NOW + handlers.JOB_RETRY + timedelta(seconds=1)
    assert handlers.run_due(ports)
    invited = [e["participant_id"] for e in ports.events.of_type(types.PARTICIPANT_INVITED)]
    assert sorted(invited) == sorted(p.appointment_id for p in people), "each announced once"
