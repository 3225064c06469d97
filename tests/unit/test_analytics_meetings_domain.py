"""Meeting attendance folded as pure rules: one invitee's flags and legs, a meeting's life, the
view's sums over partials, and meetings held against a target."""

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from analytics.coverage.domain import HOUR_S
from analytics.meetings.domain import (
    Attendance,
    AttendanceChange,
    MeetingCounts,
    attendance_contributions,
    closed_at,
    ended_at,
    fold_meeting,
    path_agrees,
)
from analytics.meetings.targets import load_meeting_targets, meetings_progress
from analytics.meetings.totals import Held, MeetingsView, meeting_key
from analytics.settings import TARGETS
from shared.events import types as t

from .test_analytics_domain import BOOTH, PATH

MEETING = str(uuid.uuid4())


def change(event_type: str, at: float = 1.0, **data) -> AttendanceChange:
    return AttendanceChange.from_event(event_type, data, at)


def fold(*changes: AttendanceChange) -> Attendance:
    attendance = Attendance(MEETING, str(uuid.uuid4()), BOOTH)
    for c in changes:
        attendance = attendance.apply(c)
    return attendance


def numbers(attendance: Attendance) -> dict:
    return attendance.counts().numbers()


def test_a_whole_attendance_counts_each_step_once():
    leg = str(uuid.uuid4())
    attended = fold(
        change(t.PARTICIPANT_INVITED),
        change(t.CALL_ATTEMPTED, outcome="no_answer"),
        change(t.CALL_ATTEMPTED, outcome="answered"),
        change(t.PARTICIPANT_JOINED, leg_id=leg),
        change(t.PARTICIPANT_CONFIRMED),
        change(t.PARTICIPANT_LEFT, leg_id=leg, seconds=300),
    )
    assert numbers(attended) == {
        "invited": 1,
        "rang": 1,
        "answered": 1,
        "joined": 1,
        "confirmed": 1,
        "attended_seconds": 300,
    }


def test_a_duplicate_changes_nothing_and_says_so_by_returning_the_same_attendance():
    leg = str(uuid.uuid4())
    once = fold(
        change(t.PARTICIPANT_INVITED),
        change(t.PARTICIPANT_JOINED, leg_id=leg),
        change(t.PARTICIPANT_LEFT, leg_id=leg, seconds=60),
        change(t.PARTICIPANT_CONFIRMED),
    )
    for again in (
        change(t.PARTICIPANT_INVITED, at=9),
        change(t.PARTICIPANT_JOINED, leg_id=leg, at=9),
        change(t.PARTICIPANT_LEFT, leg_id=leg, seconds=999, at=9),  # a retry: first seconds stand
        change(t.PARTICIPANT_CONFIRMED, at=9),
    ):
        assert once.apply(again) is once


def test_a_left_before_its_joined_counts_the_join_and_the_seconds_once():
    leg = str(uuid.uuid4())
    late = fold(change(t.PARTICIPANT_LEFT, leg_id=leg, seconds=45))
    assert numbers(late)["joined"] == 1 and numbers(late)["attended_seconds"] == 45
    assert late.apply(change(t.PARTICIPANT_JOINED, leg_id=leg)) is late


def test_seconds_add_up_over_a_participants_legs_but_joined_stays_one():
    legs = [str(uuid.uuid4()) for _ in range(3)]
    rejoined = fold(
        *(change(t.PARTICIPANT_JOINED, leg_id=leg) for leg in legs),
        *(change(t.PARTICIPANT_LEFT, leg_id=leg, seconds=100) for leg in legs[:2]),
    )
    assert numbers(rejoined)["joined"] == 1
    assert numbers(rejoined)["attended_seconds"] == 200  # the third leg is still in


def test_replaying_every_event_in_any_order_gives_the_same_numbers():
    leg = str(uuid.uuid4())
    story = [
        change(t.PARTICIPANT_INVITED, at=1),
        change(t.CALL_ATTEMPTED, outcome="busy", at=2),
        change(t.PARTICIPANT_JOINED, leg_id=leg, at=3),
        change(t.PARTICIPANT_CONFIRMED, at=4),
        change(t.PARTICIPANT_LEFT, leg_id=leg, seconds=70, at=5),
    ]
    forward = fold(*story)
    assert fold(*reversed(story), *story).counts() == forward.counts()
    assert numbers(forward)["answered"] == 0 and numbers(forward)["rang"] == 1


def test_an_attendance_counts_from_the_nation_down_to_its_booth():
    units = [
        k.split("|")[1] for k, _ in attendance_contributions(fold(change(t.PARTICIPANT_INVITED)))
    ]
    assert units == ["IN", *PATH.values(), BOOTH]


def test_a_booth_path_must_be_the_booths_own_ancestors():
    assert path_agrees(BOOTH, PATH)
    assert not path_agrees(BOOTH, {**PATH, "district": "IN-HP-D02"})
    assert not path_agrees(PATH["sector"], PATH)  # not a booth


def meeting_event(event_type: str, **data) -> dict:
    return {
        "meeting_id": MEETING,
        "kind": "video_conference",
        "organiser_unit": "IN-HP-D01",
        **data,
    }


SCHEDULED = meeting_event(
    t.MEETING_SCHEDULED,
    scope=["IN-HP-D01"],
    title={"hi": "बैठक", "en": "Meeting"},
    starts_at="2026-12-01T18:00:00+05:30",
    ends_at="2026-12-01T19:00:00+05:30",
)
ENDED = meeting_event(t.MEETING_ENDED, ended_at="2026-12-01T19:02:00+05:30")


def test_a_meeting_only_moves_forward_whatever_the_order():
    ended_first = fold_meeting(
        fold_meeting(None, t.MEETING_ENDED, ENDED), t.MEETING_SCHEDULED, SCHEDULED
    )
    in_order = fold_meeting(
        fold_meeting(None, t.MEETING_SCHEDULED, SCHEDULED), t.MEETING_ENDED, ENDED
    )
    assert ended_first == in_order and in_order["state"] == "ended"
    assert in_order["title"]["en"] == "Meeting" and in_order["scope"] == ["IN-HP-D01"]
    assert fold_meeting(in_order, t.MEETING_ENDED, ENDED) == in_order


def test_a_meeting_cancelled_at_its_start_is_over_but_not_held():
    cancelled = meeting_event(
        t.MEETING_CANCELLED, reason="blackout", cancelled_at="2026-12-01T18:00:05+05:30"
    )
    scheduled = fold_meeting(None, t.MEETING_SCHEDULED, SCHEDULED)
    record = fold_meeting(scheduled, t.MEETING_CANCELLED, cancelled)
    assert (record["state"], record["cancel_reason"]) == ("cancelled", "blackout")
    assert ended_at(record) is None  # not a meeting held
    assert closed_at(record) == datetime.fromisoformat(cancelled["cancelled_at"]).timestamp()
    view = MeetingsView()
    view.on_record(meeting_key(MEETING), record)
    assert view.held("IN-HP-D01").count() == 0


def test_the_view_sums_partials_and_a_newer_partial_replaces_the_older():
    view = MeetingsView()
    view.on_record(f"q|{MEETING}|IN-HP|3", MeetingCounts(invited=2, joined=1).to_json())
    view.on_record(f"q|{MEETING}|IN-HP|5", MeetingCounts(invited=1).to_json())
    view.on_record(f"q|{MEETING}|IN-HP|3", MeetingCounts(invited=4, joined=3).to_json())
    other = str(uuid.uuid4())
    view.on_record(f"q|{other}|IN-HP|3", MeetingCounts(invited=10, attended_seconds=9).to_json())
    assert (
        view.meeting_counts(MEETING, "IN-HP").invited,
        view.meeting_counts(MEETING, "IN-HP").joined,
    ) == (5, 3)
    over_meetings = view.unit_counts("IN-HP")
    assert (over_meetings.invited, over_meetings.joined, over_meetings.attended_seconds) == (
        15,
        3,
        9,
    )
    view.on_record(f"q|{other}|IN-HP|3", None)
    assert view.unit_counts("IN-HP").invited == 5
    view.on_record("w|IN-HP|3", {"reached": 2, "as_of": 1.0})
    view.on_record("w|IN-HP|7", {"reached": 1, "as_of": 1.0})
    assert view.workers_reached("IN-HP") == 3
    held = view.held_of_partitions([3])[3]
    assert {kind: list(partials) for kind, partials in held.items()} == {
        "q": [f"{MEETING}|IN-HP"],
        "w": ["IN-HP"],
    }
    assert held["w"]["IN-HP"].reached == 2


def test_an_ended_meeting_is_held_by_its_organiser_and_every_unit_above_once():
    view = MeetingsView()
    scheduled = fold_meeting(None, t.MEETING_SCHEDULED, SCHEDULED)
    view.on_record(meeting_key(MEETING), scheduled)
    assert view.held("IN-HP").count() == 0
    ended = fold_meeting(scheduled, t.MEETING_ENDED, ENDED)
    view.on_record(meeting_key(MEETING), ended)
    view.on_record(meeting_key(MEETING), ended)  # the record said again
    assert [view.held(u).count() for u in ("IN", "IN-HP", "IN-HP-D01", "IN-HP-D02")] == [1, 1, 1, 0]
    assert view.held("IN-HP").count("video_conference") == 1
    assert view.held("IN-HP").count("audio_bridge") == 0
    assert [m["meeting_id"] for m in view.held_within("IN-HP", 10)] == [MEETING]
    assert view.held_within("IN-UP", 10) == []


NOW = datetime(2027, 1, 1, 12, tzinfo=timezone.utc)


def test_himachals_target_projects_video_conferences_held_at_the_recent_rate():
    target = load_meeting_targets(TARGETS)["IN-HP"]
    assert (target.held, target.kind) == (5000, "video_conference")
    held = Held()
    hour = int(NOW.timestamp() // HOUR_S)
    for h in range(6):
        for _ in range(10):
            held.add("video_conference", hour - h, 1)
    held.add("audio_bridge", hour, 1)  # not what the target counts
    result = meetings_progress(target, held, NOW.timestamp(), window_hours=6)
    assert (result.achieved, result.remaining, result.rate_per_hour) == (60, 4940, 10.0)
    assert result.projected_completion == NOW + timedelta(hours=494)
    assert result.on_track


@pytest.mark.parametrize(
    "spec,error",
    [
        ('IN-HP: {meetings: {held: 10, by: "2027-03-31T23:59:59"}}', "time zone"),
        ('IN-HP: {meetings: {held: 10, kind: townhall, by: "2027-03-31T23:59:59+05:30"}}', "kind"),
        ('IN-HP: {meetings: {held: 0, by: "2027-03-31T23:59:59+05:30"}}', "held"),
    ],
)
def test_a_wrong_meetings_target_is_refused(tmp_path: Path, spec, error):
    path = tmp_path / "targets.yaml"
    path.write_text(spec)
    with pytest.raises(ValueError, match=error):
        load_meeting_targets(path)


def test_coverage_deadlines_skip_a_unit_with_a_meetings_target_only(tmp_path: Path):
    from analytics.coverage.deadline import load_targets

    path = tmp_path / "targets.yaml"
    path.write_text('IN-HP-D01: {meetings: {held: 40, by: "2027-03-31T23:59:59+05:30"}}')
    assert load_targets(path) == {}
    assert load_meeting_targets(path)["IN-HP-D01"].kind is None
