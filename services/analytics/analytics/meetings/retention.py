"""When a meeting's live attendance is let go, and where its counts go then. Pure: no I/O.

A meeting's per-invitee rows, and the per-unit partials they make, are what a meeting needs while
its numbers can still change: a late callback, the end's reconciliation. Kept for ever they grow
with every meeting ever held. So once a meeting has been over for `keep_s`
(ANALYTICS_MEETING_KEEP_HOURS) since its meeting-ended (or meeting-cancelled: its start refused,
its invitees announced), its rows are deleted from the attendance table, and their counts move
into their partition's *settled* counts per unit: the partials of the pseudo-meeting SETTLED. A
unit's totals over its meetings (a sum over every meeting's partials of the unit) stay what they
were; the meeting's own per-unit partials are withdrawn. Meetings held (the meetings table, one
small record each, with meeting-ended's totals) and workers reached (by person) are kept. An
attendance event of a dropped meeting is too late to count: its invitee's row is gone, so it
would count them a second time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from analytics.meetings.domain import (
    MeetingCounts,
    attendance_contributions,
    closed_at,
    meeting_unit,
    split_meeting_unit,
)

SETTLED = "~"  # the pseudo-meeting of dropped meetings' counts: never a meeting's id (a uuid)


def expired(meeting: Mapping | None, now: float, keep_s: float) -> bool:
    """Ended (or cancelled) at least `keep_s` ago: its attendance is dropped, and no longer
    counted."""
    at = closed_at(meeting) if meeting is not None else None
    return at is not None and at + keep_s <= now


def settled_key(unit_id: str, partition: int) -> str:
    """A settled table row: one per unit and source partition (its changelog partition)."""
    return f"{unit_id}|{partition}"


@dataclass
class Drop:
    """What dropping some rows of one partition does."""

    keys: list[str] = field(default_factory=list)  # attendance rows to delete
    withdrawn: set[str] = field(default_factory=set)  # meeting|unit partials to withdraw
    moved: list[tuple[str, MeetingCounts]] = field(default_factory=list)  # leaving a meeting
    settled: dict[str, MeetingCounts] = field(default_factory=dict)  # unit -> counts arriving

    def changes(self) -> list[tuple[str, MeetingCounts | None, MeetingCounts | None]]:
        """The partial book's changes: out of each meeting's partials, into the settled ones."""
        out = [(ident, counts, None) for ident, counts in self.moved]
        into = [(meeting_unit(SETTLED, u), None, counts) for u, counts in self.settled.items()]
        return out + into


def plan_drop(rows: Iterable[tuple[str, object]]) -> Drop:
    """Rows (key, AttendanceRow) of one partition, of meetings being dropped."""
    drop = Drop()
    for key, row in rows:
        drop.keys.append(key)
        for ident, counts in attendance_contributions(row.attendance()):
            drop.moved.append((ident, counts))
            drop.withdrawn.add(ident)
            drop.settled.setdefault(split_meeting_unit(ident)[1], MeetingCounts()).add(counts)
    return drop
