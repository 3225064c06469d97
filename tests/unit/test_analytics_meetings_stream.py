"""The meetings stream's handlers over dict tables and the coverage tests' fakes of its adapters."""

import uuid

import pytest

from analytics.adapters.registry import CachedRegistry
from analytics.meetings.stream import MeetingsStream
from analytics.meetings.totals import meeting_key
from testkit.attendance import Meeting

from .test_analytics_stream import (
    BOOTH,
    FakeDeadLetters,
    FakeOrgRegistry,
    FakePartials,
    message,
    run,
)

MANDAL = "IN-HP-D01-A01-M01"
OTHER_BOOTH = {**BOOTH, "id": BOOTH["parent"] + "-B002"}


@pytest.fixture
def stream():
    return MeetingsStream(
        registry=CachedRegistry(FakeOrgRegistry(), children_ttl_s=60),
        partials=FakePartials(),
        dead_letters=FakeDeadLetters(),
        targets={},
        rate_window_hours=6,
        group="test-analytics",
    )


def feed(stream, events, attendance, workers, partition=3) -> list[str]:
    return [
        run(stream.on_attendance(message(e, partition=partition), attendance, workers))
        for e in events
    ]


def sent(stream) -> dict:
    run(stream.publish_partials())
    return stream.partials.sent


def test_attendance_goes_out_as_partials_per_unit_of_the_meeting_and_workers_reached(stream):
    meeting = Meeting(MANDAL, [MANDAL])
    attendance, workers = {}, {}
    outcomes = feed(stream, meeting.invitee(BOOTH).attended(90), attendance, workers)
    assert outcomes == ["counted"] * 5 and len(attendance) == 1 and len(workers) == 1
    partials = sent(stream)
    mandal = partials[f"q|{meeting.meeting_id}|{MANDAL}|3"]
    assert (
        mandal["invited"],
        mandal["joined"],
        mandal["confirmed"],
        mandal["attended_seconds"],
    ) == (
        1,
        1,
        1,
        90,
    )
    assert partials[f"q|{meeting.meeting_id}|{BOOTH['id']}|3"]["answered"] == 1
    assert partials["w|IN|3"]["reached"] == 1 and partials[f"w|{MANDAL}|3"]["reached"] == 1


def test_a_second_meeting_adds_attendance_but_not_workers_reached(stream):
    attendance, workers = {}, {}
    first, second = Meeting(MANDAL, [MANDAL]), Meeting(MANDAL, [MANDAL])
    president = first.invitee(BOOTH)
    feed(stream, president.attended(10), attendance, workers)
    again = second.invitee(BOOTH)
    again.participant_id = president.participant_id  # the same appointee
    feed(stream, again.attended(20), attendance, workers)
    partials = sent(stream)
    assert partials["w|IN-HP|3"]["reached"] == 1 and len(workers) == 1
    assert partials[f"q|{second.meeting_id}|IN-HP|3"]["joined"] == 1


def test_replayed_events_are_duplicates_and_publish_nothing_new(stream):
    meeting = Meeting(MANDAL, [MANDAL])
    attendance, workers = {}, {}
    events = meeting.invitee(BOOTH).attended(30)
    feed(stream, events, attendance, workers)
    before = dict(sent(stream))
    stream.partials.sent.clear()
    assert feed(stream, events, attendance, workers) == ["duplicate"] * 5
    assert sent(stream) == {} and before


def test_a_rebuild_from_the_tables_gives_the_partials_counted_live(stream):
    meeting = Meeting(MANDAL, [MANDAL])
    attendance, workers = {}, {}
    feed(stream, meeting.invitee(BOOTH).attended(30), attendance, workers)
    feed(stream, meeting.invitee(OTHER_BOOTH).attended(50, confirmed=False), attendance, workers)
    live = dict(sent(stream))

    fresh = MeetingsStream(
        registry=stream.registry,
        partials=FakePartials(),
        dead_letters=FakeDeadLetters(),
        targets={},
        rate_window_hours=6,
        group="test-analytics",
    )
    run(fresh.rebuild({3}, attendance.values(), workers.values()))
    assert fresh.partials.sent == live


def test_a_rebuild_zeroes_what_the_view_holds_for_a_partition_no_row_counts_any_more(stream):
    stream.view.on_record(f"q|{uuid.uuid4()}|IN-HP|3", {"invited": 4, "as_of": 1.0})
    stream.view.on_record("w|IN-HP|3", {"reached": 2, "as_of": 1.0})
    run(stream.rebuild({3}, [], []))
    zeros = stream.partials.sent
    assert {k.split("|")[0] for k in zeros} == {"q", "w"}
    assert all(not v.get("invited") and not v.get("reached") for v in zeros.values())


def test_an_attendance_event_whose_path_is_not_its_booths_is_dead_lettered(stream):
    meeting = Meeting(MANDAL, [MANDAL])
    misplaced = {
        **BOOTH,
        "ancestors": [*BOOTH["ancestors"][:2], "IN-HP-D09", *BOOTH["ancestors"][3:]],
    }
    attendance = {}
    assert feed(stream, [meeting.invitee(misplaced).invited()], attendance, {}) == ["dead_lettered"]
    ((reason, error),) = stream.dead_letters.sent
    assert reason == "rejected" and "does not match" in error and attendance == {}


def test_a_meeting_is_published_for_every_view_even_when_said_twice(stream):
    meeting = Meeting(MANDAL, [MANDAL], kind="video_conference")
    meetings = {}
    outcomes = [
        run(stream.on_meeting(message(e), meetings))
        for e in (meeting.scheduled(), meeting.ended(), meeting.ended())
    ]
    assert outcomes == ["counted", "counted", "duplicate"]
    record = stream.partials.records[meeting_key(meeting.meeting_id)]
    assert record == meetings[meeting.meeting_id] and record["state"] == "ended"


def test_a_meeting_of_a_unit_the_registry_does_not_hold_is_dead_lettered(stream):
    ghost = Meeting("IN-HP-D77", ["IN-HP-D77"])
    meetings = {}
    assert run(stream.on_meeting(message(ghost.scheduled()), meetings)) == "dead_lettered"
    ((reason, error),) = stream.dead_letters.sent
    assert reason == "rejected" and "IN-HP-D77" in error and meetings == {}
