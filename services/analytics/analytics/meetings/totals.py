"""Every worker's meeting partials and meeting records read back: totals for any unit and meeting.

Three kinds of record share the coverage partials topic (analytics/coverage/partials.py):
- `q|{meeting}|{unit}|{partition}`: what one attendance partition adds to a meeting under a unit;
- `w|{unit}|{partition}`: the workers of that partition reached by any meeting under a unit;
- `g|{meeting}`: the meeting itself (kind, organiser, title, state), written by the owner of its
  meetings partition, the latest value only.

A unit's attendance over all its meetings is kept summed as partials arrive (old out, new in),
and so are the meetings it held, so a page of units needs no pass over every meeting. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from analytics.coverage.domain import HOUR_S
from analytics.coverage.partials import held_of_partitions, parse_key, replace_part
from analytics.meetings.domain import (
    MeetingCounts,
    Workers,
    ended_at,
    held_by,
    meeting_time,
    meeting_unit,
    split_meeting_unit,
)
from shared.orgtree.levels import is_within

ATTENDANCE, WORKERS, MEETING = "q", "w", "g"


def meeting_key(meeting_id: str) -> str:
    return f"{MEETING}|{meeting_id}"


@dataclass
class Held:
    """Meetings held (ended) by a unit or under it, by kind, and by the hour they ended."""

    by_kind: dict[str, int] = field(default_factory=dict)
    by_hour: dict[str, dict[int, int]] = field(default_factory=dict)  # kind -> hour -> meetings

    def count(self, kind: str | None = None) -> int:
        return sum(self.by_kind.values()) if kind is None else self.by_kind.get(kind, 0)

    def hours(self, kind: str | None = None) -> dict[int, int]:
        if kind is not None:
            return self.by_hour.get(kind, {})
        merged: dict[int, int] = {}
        for hours in self.by_hour.values():
            for hour, n in hours.items():
                merged[hour] = merged.get(hour, 0) + n
        return merged

    def add(self, kind: str, hour: int, sign: int) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + sign
        hours = self.by_hour.setdefault(kind, {})
        hours[hour] = hours.get(hour, 0) + sign
        if not hours[hour]:
            del hours[hour]


class MeetingsView:
    KINDS = frozenset({ATTENDANCE, WORKERS, MEETING})

    def __init__(self):
        self.meetings: dict[str, dict] = {}
        self._attendance: dict[str, dict[int, MeetingCounts]] = {}  # meeting|unit -> partition
        self._unit_totals: dict[str, MeetingCounts] = {}  # unit -> over its meetings
        self._workers: dict[str, dict[int, Workers]] = {}  # unit -> partition
        self._held: dict[str, Held] = {}

    def on_record(self, key: str, value: dict | None) -> None:
        kind, _, rest = key.partition("|")
        if kind == MEETING:
            self._on_meeting(rest, value)
            return
        _, ident, partition = parse_key(key)
        if kind == ATTENDANCE:
            new = None if value is None else MeetingCounts.from_json(value)
            old = replace_part(self._attendance, ident, partition, new)
            total = self._unit_totals.setdefault(split_meeting_unit(ident)[1], MeetingCounts())
            if old is not None:
                total.add(old, -1)
            if new is not None:
                total.add(new)
        elif kind == WORKERS:
            replace_part(
                self._workers, ident, partition, None if value is None else Workers.from_json(value)
            )

    def _on_meeting(self, meeting_id: str, value: dict | None) -> None:
        old = self.meetings.pop(meeting_id, None)
        if old is not None:
            self._credit(old, -1)
        if value is not None:
            self.meetings[meeting_id] = value
            self._credit(value, 1)

    def _credit(self, meeting: dict, sign: int) -> None:
        at = ended_at(meeting)
        if at is None:
            return
        for unit in held_by(meeting):
            self._held.setdefault(unit, Held()).add(meeting["kind"], int(at // HOUR_S), sign)

    # --- reading ---------------------------------------------------------------------------------

    def meeting_counts(self, meeting_id: str, unit_id: str) -> MeetingCounts:
        return MeetingCounts.sum(
            self._attendance.get(meeting_unit(meeting_id, unit_id), {}).values()
        )

    def unit_counts(self, unit_id: str) -> MeetingCounts:
        return self._unit_totals.get(unit_id, MeetingCounts()).copy()

    def workers_reached(self, unit_id: str) -> int:
        return sum(w.reached for w in self._workers.get(unit_id, {}).values())

    def held(self, unit_id: str) -> Held:
        return self._held.get(unit_id, Held())

    def held_within(self, unit_id: str, limit: int) -> list[dict]:
        """The `limit` latest meetings held by the unit or a unit under it, newest first."""
        mine = [m for m in self.meetings.values() if is_within(m["organiser_unit"], unit_id)]
        return sorted(mine, key=lambda m: (meeting_time(m), m["meeting_id"]), reverse=True)[:limit]

    def held_of_partitions(self, partitions: Iterable[int]) -> dict[int, dict[str, dict]]:
        return held_of_partitions(
            {ATTENDANCE: self._attendance, WORKERS: self._workers}, partitions
        )
