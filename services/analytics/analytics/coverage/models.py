"""What the booth tables hold, as Faust records; each row is one changelog message.

A whole booth is one row, written at once, so after a crash the table holds either all of an
event's effect or none of it; a replayed event then finds itself applied already, or applies.
Rows carry the source partition so a worker can rebuild the partials of exactly the
partitions it owns (Faust's memory store does not remember which partition a key came from).
"""

from __future__ import annotations

import faust

from analytics.coverage.domain import BoothTeam, Seat


class BoothRow(faust.Record, serializer="json", include_metadata=False):
    booth_id: str
    units: list[str]  # national, state, district, assembly, mandal, sector
    partition: int
    seats: dict[str, list]  # appointment id -> [role, gender, status]
    president_since: float | None = None
    complete_since: float | None = None
    as_of: float | None = None

    def team(self) -> BoothTeam:
        return BoothTeam(
            self.booth_id,
            tuple(self.units),
            {key: Seat(role, gender, status) for key, (role, gender, status) in self.seats.items()},
            self.president_since,
            self.complete_since,
            self.as_of,
        )

    @classmethod
    def of(cls, team: BoothTeam, partition: int) -> BoothRow:
        return cls(
            booth_id=team.booth_id,
            units=list(team.units),
            partition=partition,
            seats={key: [s.role, s.gender, s.status] for key, s in team.seats.items()},
            president_since=team.president_since,
            complete_since=team.complete_since,
            as_of=team.as_of,
        )


class BoothDirectivesRow(faust.Record, serializer="json", include_metadata=False):
    booth_id: str
    partition: int
    marks: dict[str, int]  # directive id -> DELIVERED | ACKNOWLEDGED flags
    as_of: float | None = None
