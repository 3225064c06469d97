"""What the meetings tables hold, as Faust records; each row is one changelog message.

One invitee of one meeting is one small row, so each attendance event writes one short record
(not the booth's whole history). Rows carry their source partition so a worker can rebuild the
partials of exactly the partitions it owns (Faust's memory store does not remember it).
"""

from __future__ import annotations

import faust

from analytics.meetings.domain import Attendance, MeetingCounts


class AttendanceRow(faust.Record, serializer="json", include_metadata=False):
    meeting_id: str
    participant_id: str
    booth_id: str
    partition: int
    flags: int  # INVITED | RANG | ANSWERED | JOINED | CONFIRMED
    legs: dict[str, int | None]  # leg id -> seconds once it left
    as_of: float | None = None

    def attendance(self) -> Attendance:
        return Attendance(
            self.meeting_id, self.participant_id, self.booth_id, self.flags, self.legs, self.as_of
        )

    @classmethod
    def of(cls, attendance: Attendance, partition: int) -> AttendanceRow:
        return cls(
            meeting_id=attendance.meeting_id,
            participant_id=attendance.participant_id,
            booth_id=attendance.booth_id,
            partition=partition,
            flags=attendance.flags,
            legs=dict(attendance.legs),
            as_of=attendance.as_of,
        )


class WorkerRow(faust.Record, serializer="json", include_metadata=False):
    """An appointee who joined some meeting: written at their first join, never again."""

    booth_id: str
    partition: int
    first_joined_at: float


class SettledRow(faust.Record, serializer="json", include_metadata=False):
    """What dropped meetings' invitees of one partition add up to under one unit
    (analytics.meetings.retention): kept so a recovered worker counts them again."""

    unit_id: str
    partition: int
    counts: dict[str, int | float | None]  # MeetingCounts.to_json()

    def meeting_counts(self) -> MeetingCounts:
        return MeetingCounts.from_json(self.counts)

    @classmethod
    def of(cls, unit_id: str, partition: int, counts: MeetingCounts) -> SettledRow:
        return cls(unit_id=unit_id, partition=partition, counts=counts.to_json())
