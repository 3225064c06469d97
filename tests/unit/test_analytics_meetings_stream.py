"""The meetings stream's handlers over dict tables and the coverage tests' fakes of its adapters."""

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from analytics.adapters.registry import CachedRegistry
from analytics.meetings.retention import SETTLED
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


def new_stream(registry=None) -> MeetingsStream:
    """A worker's stream; give a running one's registry to start another beside it (a restart)."""
    return MeetingsStream(
        registry=registry or CachedRegistry(FakeOrgRegistry(), children_ttl_s=60),
        partials=FakePartials(),
        dead_letters=FakeDeadLetters(),
        targets={},
        rate_window_hours=6,
        group="test-analytics",
    )


@pytest.fixture
def stream():
    return new_stream()


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


def two_attended(stream) -> tuple[dict, dict, dict]:
    """Two invitees of a mandal meeting attended: the tables' rows and the partials sent."""
    meeting = Meeting(MANDAL, [MANDAL])
    attendance, workers = {}, {}
    feed(stream, meeting.invitee(BOOTH).attended(30), attendance, workers)
    feed(stream, meeting.invitee(OTHER_BOOTH).attended(50, confirmed=False), attendance, workers)
    return attendance, workers, dict(sent(stream))


def test_a_rebuild_from_the_tables_gives_the_partials_counted_live(stream):
    attendance, workers, live = two_attended(stream)

    fresh = new_stream(stream.registry)
    run(fresh.rebuild({3}, attendance.values(), workers.values()))
    assert fresh.partials.sent == live


def test_a_restarted_worker_whose_view_holds_its_partials_publishes_none_of_them_again(stream):
    attendance, workers, live = two_attended(stream)
    changed_since = next(k for k in live if k.startswith("q|") and k.endswith(f"|{BOOTH['id']}|3"))

    restarted = new_stream(stream.registry)
    for key, value in live.items():
        restarted.view.on_record(key, value)
    restarted.view.on_record(changed_since, {"invited": 9, "as_of": 1.0})  # not what rows say
    run(restarted.rebuild({3}, attendance.values(), workers.values()))
    assert restarted.partials.sent == {changed_since: live[changed_since]}


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


# --- ended meetings are dropped, their counts kept per unit -------------------------------------

KEEP_S = 3600.0
ENDED_AT = datetime(2026, 12, 1, 13, 30, tzinfo=timezone.utc)


class Rows(dict):
    """A table written from the timer (analytics.adapters.tables), as a dict; keeps the partition
    each write went to, as the changelog would."""

    def __init__(self, rows=None):
        super().__init__(rows or {})
        self.written: dict[str, int] = {}

    def put(self, partition, key, value):
        self[key], self.written[key] = value, partition

    def delete(self, partition, key):
        self.pop(key, None)
        self.written[key] = partition


def views_read(stream) -> None:
    """What every worker's view reads back from the partials topic."""
    for key, value in {**stream.partials.records, **stream.partials.sent}.items():
        stream.view.on_record(key, value)


def held_and_counted(stream, meeting, attendance, workers, partition=3):
    run(stream.on_meeting(message(meeting.scheduled()), {}))
    feed(stream, meeting.invitee(BOOTH).attended(90), attendance, workers, partition)
    feed(stream, meeting.invitee(OTHER_BOOTH).attended(30, False), attendance, workers, partition)
    run(stream.on_meeting(message(meeting.ended(at=ENDED_AT)), {}))
    run(stream.publish_partials())
    views_read(stream)


def dropped(stream, publish=True):
    """An ended meeting held and counted in partition 3, then dropped once its grace is over:
    (meeting, attendance rows, workers, settled rows). `publish=False`: stopped before publishing
    the partials."""
    ended = Meeting(MANDAL, [MANDAL])
    attendance, workers, settled = Rows(), {}, Rows()
    held_and_counted(stream, ended, attendance, workers)
    stream.clock = lambda: ENDED_AT.timestamp() + KEEP_S
    stream.drop_ended({3}, attendance, settled)
    if publish:
        run(stream.publish_partials())
    return ended, attendance, workers, settled


@pytest.fixture
def ended_stream(stream):
    stream.keep_ended_s = KEEP_S
    stream.clock = lambda: ENDED_AT.timestamp() + KEEP_S - 1  # still within the grace
    return stream


def test_an_ended_meeting_is_kept_through_its_grace_then_its_rows_and_partials_dropped(
    ended_stream,
):
    stream, ended, running = ended_stream, Meeting(MANDAL, [MANDAL]), Meeting(MANDAL, [MANDAL])
    attendance, workers, settled = Rows(), {}, Rows()
    held_and_counted(stream, ended, attendance, workers)
    feed(stream, running.invitee(BOOTH).attended(10), attendance, workers)
    run(stream.publish_partials())
    views_read(stream)
    before = stream.section(MANDAL)
    assert stream.drop_ended({3}, attendance, settled) == 0 and len(attendance) == 3

    stream.clock = lambda: ENDED_AT.timestamp() + KEEP_S
    assert stream.drop_ended({3}, attendance, settled) == 2
    assert [row.meeting_id for row in attendance.values()] == [running.meeting_id]
    assert set(attendance.written.values()) == {3} and set(settled.written.values()) == {3}
    stream.partials.sent.clear()
    run(stream.publish_partials())
    withdrawn = {k for k, v in stream.partials.sent.items() if v is None}
    assert withdrawn and all(k.startswith(f"q|{ended.meeting_id}|") for k in withdrawn)
    views_read(stream)
    assert stream.section(MANDAL) == before  # joined, seconds, held, workers reached: the same
    assert stream.view.meeting_counts(ended.meeting_id, MANDAL).invited == 0
    assert not any(ident.startswith(ended.meeting_id) for ident in stream.view._attendance)
    assert stream.view.meeting_counts(running.meeting_id, MANDAL).joined == 1
    assert stream.drop_ended({3}, attendance, settled) == 0  # nothing left to drop


def test_a_recovered_worker_counts_the_same_from_the_tables_after_a_drop(ended_stream):
    stream = ended_stream
    _, attendance, workers, settled = dropped(stream)
    live = {k: v for k, v in stream.partials.sent.items() if v is not None}

    fresh = new_stream(stream.registry)
    run(fresh.rebuild({3}, attendance.values(), workers.values(), settled.values()))
    assert fresh.partials.sent == live
    assert fresh.partials.sent[f"q|{SETTLED}|{MANDAL}|3"]["attended_seconds"] == 120


def test_a_late_event_of_a_dropped_meeting_is_not_counted_again(ended_stream):
    stream = ended_stream
    ended, attendance, workers, settled = dropped(stream)
    views_read(stream)
    before = stream.section(MANDAL)
    late = ended.invitee(BOOTH).attended(40)
    assert feed(stream, late, attendance, workers) == ["too_late"] * 5
    assert attendance == {} and stream.attendance_book.take_dirty() == []
    assert stream.section(MANDAL) == before


def test_a_meeting_that_has_not_ended_is_never_dropped(ended_stream):
    stream, running = ended_stream, Meeting(MANDAL, [MANDAL])
    attendance, workers, settled = Rows(), {}, Rows()
    run(stream.on_meeting(message(running.scheduled()), {}))
    feed(stream, running.invitee(BOOTH).attended(10), attendance, workers)
    views_read(stream)
    stream.clock = lambda: time.time() + 365 * 86400.0
    assert stream.drop_ended({3}, attendance, settled) == 0 and len(attendance) == 1


def test_only_the_rows_of_partitions_this_worker_owns_are_dropped(ended_stream):
    stream, ended = ended_stream, Meeting(MANDAL, [MANDAL])
    attendance, workers, settled = Rows(), {}, Rows()
    held_and_counted(stream, ended, attendance, workers, partition=5)
    stream.clock = lambda: ENDED_AT.timestamp() + KEEP_S + timedelta(hours=1).seconds
    assert stream.drop_ended({3}, attendance, settled) == 0 and len(attendance) == 2
    assert stream.drop_ended({3, 5}, attendance, settled) == 2 and settled.written


def test_a_rebuild_withdraws_partials_of_a_dropped_meeting_left_by_a_worker_that_stopped(
    ended_stream,
):
    stream = ended_stream
    ended, attendance, workers, settled = dropped(stream, publish=False)  # rows gone, unpublished
    stream.attendance_book.drop(3)
    stream.partials.sent.clear()
    run(stream.rebuild({3}, attendance.values(), workers.values(), settled.values()))
    mine = {k: v for k, v in stream.partials.sent.items() if k.startswith(f"q|{ended.meeting_id}")}
    assert mine and all(v is None for v in mine.values())
    assert stream.partials.sent[f"q|{SETTLED}|{MANDAL}|3"]["invited"] == 2


def test_the_invitations_of_a_meeting_cancelled_at_its_start_are_dropped_too(ended_stream):
    stream, cancelled = ended_stream, Meeting(MANDAL, [MANDAL])
    attendance, workers, settled = Rows(), {}, Rows()
    run(stream.on_meeting(message(cancelled.scheduled()), {}))
    feed(stream, [cancelled.invitee(BOOTH).invited()], attendance, workers)
    run(stream.on_meeting(message(cancelled.cancelled(at=ENDED_AT, reason="blackout")), {}))
    run(stream.publish_partials())
    views_read(stream)
    assert stream.view.meetings[cancelled.meeting_id]["state"] == "cancelled"
    stream.clock = lambda: ENDED_AT.timestamp() + KEEP_S
    assert stream.drop_ended({3}, attendance, settled) == 1 and attendance == {}
    assert stream.section(MANDAL)["invited"] == 1 and stream.section(MANDAL)["held"] == 0
