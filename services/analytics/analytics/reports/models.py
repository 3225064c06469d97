"""What the reports tables hold, as Faust records; each row is one changelog message.

One booth's part in one dispatch is one small row, so each report event writes one short record;
a booth's WhatsApp groups are one row, as a booth has a group and a few lists. Rows carry their
source partition so a worker can rebuild the partials of exactly the partitions it owns (Faust's
memory store does not remember it).
"""

from __future__ import annotations

import faust

from analytics.reports.domain import Answer, BoothGroups, BoothReport, Group


class ReportRow(faust.Record, serializer="json", include_metadata=False):
    dispatch_id: str
    booth_id: str
    form_id: str
    form_version: int
    period_key: str
    units: list[str]
    partition: int
    dispatched: bool
    # [submission_id, attempt, late, picks, numbers, outcome, reviewed_at] or None
    answer: list | None
    seen: list[str]

    def report(self) -> BoothReport:
        answer = None
        if self.answer is not None:
            submission_id, attempt, late, picks, numbers, outcome, reviewed_at = self.answer
            answer = Answer(
                submission_id,
                attempt,
                late,
                tuple(tuple(p) for p in picks),
                tuple(tuple(n) for n in numbers),
                outcome,
                reviewed_at,
            )
        return BoothReport(
            self.dispatch_id,
            self.booth_id,
            self.form_id,
            self.form_version,
            self.period_key,
            tuple(self.units),
            self.dispatched,
            answer,
            tuple(self.seen),
        )

    @classmethod
    def of(cls, report: BoothReport, partition: int) -> ReportRow:
        a = report.answer
        return cls(
            dispatch_id=report.dispatch_id,
            booth_id=report.booth_id,
            form_id=report.form_id,
            form_version=report.form_version,
            period_key=report.period_key,
            units=list(report.units),
            partition=partition,
            dispatched=report.dispatched,
            answer=None
            if a is None
            else [
                a.submission_id,
                a.attempt,
                a.late,
                [list(p) for p in a.picks],
                [list(n) for n in a.numbers],
                a.outcome,
                a.reviewed_at,
            ],
            seen=list(report.seen),
        )


class GroupsRow(faust.Record, serializer="json", include_metadata=False):
    booth_id: str
    units: list[str]
    partition: int
    groups: dict[str, list]  # group id -> [kind, members, active, updated_at]

    def booth(self) -> BoothGroups:
        return BoothGroups(
            self.booth_id,
            tuple(self.units),
            {key: Group(*value) for key, value in self.groups.items()},
        )

    @classmethod
    def of(cls, booth: BoothGroups, partition: int) -> GroupsRow:
        return cls(
            booth_id=booth.booth_id,
            units=list(booth.units),
            partition=partition,
            groups={
                key: [g.kind, g.members, g.active, g.updated_at] for key, g in booth.groups.items()
            },
        )
