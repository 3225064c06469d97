"""The meetings API's answers, built from the view's totals and registry units. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from analytics.coverage.deadline import Projection
from analytics.meetings.domain import FINAL, MeetingCounts
from analytics.meetings.targets import MeetingsTarget, progress_json
from analytics.meetings.totals import Held

LISTED = ("invited", "joined", "confirmed")


def meetings_section(
    counts: MeetingCounts,
    held: Held,
    workers_reached: int,
    progress: tuple[MeetingsTarget, Projection] | None,
) -> dict[str, Any]:
    """A unit's `meetings` in GET /coverage/{unit}: over every meeting it or a unit under it had."""
    target, projection = progress or (None, None)
    return {
        "held": held.count(),
        "held_target": target.held if target else None,
        "deadline": progress_json(target, projection) if target else None,
        "invited": counts.invited,
        "joined": counts.joined,
        "confirmed": counts.confirmed,
        "attended_seconds": counts.attended_seconds,
        "workers_reached": workers_reached,
    }


def reach_body(
    meeting: Mapping[str, Any],
    totals: MeetingCounts,
    units: Iterable[tuple[str, MeetingCounts]],
) -> dict[str, Any]:
    """GET /meetings/{id}/reach: the totals under a unit, and one row per unit one level below."""
    return {
        "meeting_id": meeting["meeting_id"],
        "kind": meeting["kind"],
        "organiser_unit": meeting["organiser_unit"],
        "state": meeting["state"],
        "totals": totals.numbers(),
        "units": [{"unit_id": unit_id, **counts.numbers()} for unit_id, counts in units],
    }


def final_counts(meeting: Mapping[str, Any]) -> MeetingCounts:
    """A dropped meeting's totals: meeting-ended's, as the meetings service reconciled them."""
    return MeetingCounts.from_json(meeting.get("final") or {})


def final_totals(meeting: Mapping[str, Any]) -> dict[str, int]:
    """The same as an answer: only what meeting-ended says (it does not count rings)."""
    counts = final_counts(meeting)
    return {name: getattr(counts, name) for name in FINAL}


def listed_meeting(meeting: Mapping[str, Any], totals: MeetingCounts) -> dict[str, Any]:
    """One meeting in GET /coverage/{unit}/meetings, with its whole audience's numbers."""
    return {
        "meeting_id": meeting["meeting_id"],
        "kind": meeting["kind"],
        "title": meeting.get("title"),
        "organiser_unit": meeting["organiser_unit"],
        "state": meeting["state"],
        "starts_at": meeting.get("starts_at"),
        **{name: getattr(totals, name) for name in LISTED},
    }
