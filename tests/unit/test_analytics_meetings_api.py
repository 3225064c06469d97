"""Who may read a meeting's reach, and what the meetings answers say."""

from types import SimpleNamespace

import pytest

from analytics.coverage.access import CoverageAccess
from analytics.meetings.domain import MeetingCounts, fold_meeting
from analytics.meetings.report import (
    final_counts,
    final_totals,
    listed_meeting,
    meetings_section,
    reach_body,
)
from analytics.meetings.totals import Held
from analytics.settings import AnalyticsSettings
from shared.auth import tokens
from shared.auth.issuer import organiser_token
from shared.events import types as t
from shared.problems import ProblemError

access = CoverageAccess(AnalyticsSettings())


def reader(unit: str):
    return access.reader(f"Bearer {organiser_token(sub='user-1', unit=unit)}")


def test_a_state_meeting_concerns_its_districts_and_not_another_state():
    access.require_concerned(reader("IN-HP-D03"), ["IN-HP", "IN-HP"])
    access.require_concerned(reader("IN"), ["IN-HP", "IN-HP"])
    with pytest.raises(ProblemError) as caught:
        access.require_concerned(reader("IN-UP"), ["IN-HP", "IN-HP"])
    assert (caught.value.status, caught.value.kind) == (403, "outside-jurisdiction")


def test_a_service_with_coverage_read_is_concerned_by_every_meeting():
    access.require_concerned(SimpleNamespace(kind=tokens.SERVICE, unit=None), ["IN-HP"])


MEETING = {
    "meeting_id": "m-1",
    "kind": "audio_bridge",
    "organiser_unit": "IN-HP",
    "scope": ["IN-HP"],
    "state": "started",
    "title": {"hi": "बैठक", "en": "Meeting"},
    "starts_at": "2026-12-01T18:00:00+05:30",
}


def test_reach_has_the_totals_and_one_row_per_unit_below():
    body = reach_body(
        MEETING,
        MeetingCounts(3, 2, 2, 2, 1, 70),
        [("IN-HP-D01", MeetingCounts(3, 2, 2, 2, 1, 70)), ("IN-HP-D02", MeetingCounts())],
    )
    assert body == {
        "meeting_id": "m-1",
        "kind": "audio_bridge",
        "organiser_unit": "IN-HP",
        "state": "started",
        "totals": {
            "invited": 3,
            "rang": 2,
            "answered": 2,
            "joined": 2,
            "confirmed": 1,
            "attended_seconds": 70,
        },
        "units": [
            {"unit_id": "IN-HP-D01", **body["totals"]},
            {"unit_id": "IN-HP-D02", **dict.fromkeys(body["totals"], 0)},
        ],
    }


def test_a_unit_without_a_target_says_so_with_nulls():
    held = Held()
    held.add("audio_bridge", 10, 1)
    section = meetings_section(MeetingCounts(5, 4, 4, 3, 2, 900), held, 3, None)
    assert section == {
        "held": 1,
        "held_target": None,
        "deadline": None,
        "invited": 5,
        "joined": 3,
        "confirmed": 2,
        "attended_seconds": 900,
        "workers_reached": 3,
    }


def test_a_listed_meeting_carries_its_whole_audiences_numbers():
    listed = listed_meeting(MEETING, MeetingCounts(10, 8, 7, 6, 5, 100))
    assert listed == {
        "meeting_id": "m-1",
        "kind": "audio_bridge",
        "title": {"hi": "बैठक", "en": "Meeting"},
        "organiser_unit": "IN-HP",
        "state": "started",
        "starts_at": "2026-12-01T18:00:00+05:30",
        "invited": 10,
        "joined": 6,
        "confirmed": 5,
    }


def test_a_dropped_meeting_is_listed_with_the_totals_its_meeting_ended_gave():
    ended = {
        "meeting_id": "m-1",
        "kind": "audio_bridge",
        "organiser_unit": "IN-HP",
        **{"invited": 12, "joined": 9, "confirmed": 7, "attended_seconds": 5400},
        "ended_at": "2026-12-01T19:02:00+05:30",
    }
    record = fold_meeting(MEETING, t.MEETING_ENDED, ended)
    assert record["state"] == "ended"
    listed = listed_meeting(record, final_counts(record))
    assert (listed["invited"], listed["joined"], listed["confirmed"]) == (12, 9, 7)
    assert final_totals(record) == {
        "invited": 12,
        "joined": 9,
        "confirmed": 7,
        "attended_seconds": 5400,
    }
    again = fold_meeting(record, t.MEETING_ENDED, {**ended, "joined": 0})  # a replay: the first
    assert final_counts(again).joined == 9
