"""What the worker does with each meeting and attendance event, and with their partials.

Agents (agents.py) hand every record here; tables are passed in as mappings, so unit tests run
the same code over dicts. Per attendance event: one table row read and written (the invitee in
that meeting), a second only at a worker's first join anywhere, and in memory seven partial
sums (nation … sector and the booth); partials go out on a timer, not per event. A meeting ended
long enough ago has its rows and partials dropped, its counts kept per unit
(analytics.meetings.retention); its late events are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from itertools import chain

from analytics.adapters.kafka import DeadLetters, PartialsOut
from analytics.adapters.registry import CachedRegistry, RegistryUnavailable
from analytics.coverage import metrics as coverage_metrics
from analytics.coverage.domain import NATIONAL
from analytics.coverage.partials import PartialBook
from analytics.coverage.stream import PathMismatchError, UnknownUnitError
from analytics.intake import Intake
from analytics.meetings import metrics
from analytics.meetings.domain import (
    ATTENDANCE_TYPES,
    MEETING_TYPES,
    STARTED,
    Attendance,
    AttendanceChange,
    MeetingCounts,
    Workers,
    attendance_contributions,
    attendance_key,
    fold_meeting,
    held_by,
    meeting_unit,
    path_agrees,
    split_meeting_unit,
    worker_contributions,
)
from analytics.meetings.models import AttendanceRow, SettledRow, WorkerRow
from analytics.meetings.report import meetings_section
from analytics.meetings.retention import SETTLED, expired, plan_drop, settled_key
from analytics.meetings.targets import MeetingsTarget, meetings_progress
from analytics.meetings.totals import ATTENDANCE, WORKERS, MeetingsView, meeting_key
from analytics.owned import OwnedPartials, by_partition
from shared.kafka.consumer import REJECTED
from shared.logging import get_logger

log = get_logger(__name__)


class MeetingsStream(Intake):
    def __init__(
        self,
        *,
        registry: CachedRegistry,
        partials: PartialsOut,
        dead_letters: DeadLetters,
        targets: dict[str, MeetingsTarget],
        rate_window_hours: float,
        group: str,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
        keep_ended_s: float = 24 * 3600.0,
    ):
        super().__init__(dead_letters=dead_letters, group=group)
        self.registry, self.partials = registry, partials
        self.targets, self.rate_window_hours = targets, rate_window_hours
        self.stopping, self.clock = stopping, clock
        self.keep_ended_s = keep_ended_s
        # Meetings with rows in the partitions this worker owns: the candidates for dropping, so
        # a timer with nothing to drop reads no table.
        self._present: set[str] = set()
        self.attendance_book: PartialBook[MeetingCounts] = PartialBook(ATTENDANCE, MeetingCounts)
        self.workers_book: PartialBook[Workers] = PartialBook(WORKERS, Workers)
        self.view = MeetingsView()
        self.owned = OwnedPartials(
            partials, [self.attendance_book, self.workers_book], metrics.VISIBILITY_LAG, clock
        )

    # --- input records ---------------------------------------------------------------------------

    async def on_attendance(
        self,
        message,
        attendance: MutableMapping[str, AttendanceRow],
        workers: MutableMapping[str, WorkerRow],
    ) -> str:
        event = await self.parse(message)
        if event is None:
            return "dead_lettered"
        if event.type not in ATTENDANCE_TYPES:
            return self._count(event, "ignored")
        data, booth_id = event.data, event.subject
        if self.dropped(data["meeting_id"]):
            return self._count(event, "too_late")  # its row is gone: it would count twice
        key = attendance_key(data["meeting_id"], data["participant_id"])
        row = attendance.get(key)
        problem = _misplaced(booth_id, data, row)
        if problem:
            await self._dead_letter(message, event.type, REJECTED, PathMismatchError(problem))
            return "dead_lettered"
        before = (
            row.attendance()
            if row is not None
            else Attendance(data["meeting_id"], data["participant_id"], booth_id)
        )
        at = event.time.timestamp()
        after = before.apply(AttendanceChange.from_event(event.type, data, at))
        if after is before:
            return self._count(event, "duplicate")
        attendance[key] = AttendanceRow.of(after, message.partition)
        self._present.add(data["meeting_id"])
        old = before.counts()
        self.attendance_book.change(
            message.partition, ((k, old, new) for k, new in attendance_contributions(after))
        )
        if after.joined and data["participant_id"] not in workers:
            workers[data["participant_id"]] = WorkerRow(booth_id, message.partition, at)
            self.workers_book.change(
                message.partition, ((u, None, w) for u, w in worker_contributions(booth_id, at))
            )
        self.owned.counted(message.partition, at)
        return self._count(event, "counted")

    async def on_meeting(self, message, meetings: MutableMapping[str, dict]) -> str:
        """meeting-scheduled/started/ended: the meeting's record, for every worker's view."""
        event = await self.parse(message)
        if event is None:
            return "dead_lettered"
        if event.type not in MEETING_TYPES:
            return self._count(event, "ignored")
        data = event.data
        named = [data["organiser_unit"], *data.get("scope", ())]
        unknown = [
            u for u in named if await self.registry.unit_until_answered(u, self.stopping) is None
        ]
        if unknown:
            coverage_metrics.UNKNOWN_UNITS.labels(event.type).inc()
            error = UnknownUnitError(
                f"names units the registry does not hold: {', '.join(unknown)}"
            )
            await self._dead_letter(message, event.type, REJECTED, error)
            return "dead_lettered"
        before = meetings.get(data["meeting_id"])
        after = fold_meeting(before, event.type, data)
        if after != before:
            meetings[data["meeting_id"]] = after
        # Published even for a duplicate: a replay after a crash between the table write and this
        # send must still get the record out.
        await self.partials.publish_record(meeting_key(data["meeting_id"]), after)
        return self._count(event, "counted" if after != before else "duplicate")

    # --- dropping ended meetings ---------------------------------------------------------------

    def dropped(self, meeting_id: str) -> bool:
        return expired(self.view.meetings.get(meeting_id), self.clock(), self.keep_ended_s)

    def drop_ended(self, partitions: set[int], attendance, settled) -> int:
        """Drop the rows of meetings ended `keep_ended_s` ago from the owned partitions: deleted
        from the attendance table, their counts added to the settled table and moved to the
        settled partials, the meeting's own partials withdrawn. Tables are written row by row
        into each row's partition (analytics.adapters.tables). The rows dropped."""
        due = {m for m in self._present if self.dropped(m)}
        if not due:
            return 0
        rows: dict[int, list] = {}
        elsewhere = set()  # due meetings with rows of partitions not given: looked at again
        for key, row in attendance.items():
            if row.meeting_id not in due:
                continue
            if row.partition in partitions:
                rows.setdefault(row.partition, []).append((key, row))
            else:
                elsewhere.add(row.meeting_id)
        dropped = 0
        for partition, found in rows.items():
            drop = plan_drop(found)
            self.attendance_book.change(partition, drop.changes())
            self.attendance_book.forget(partition, drop.withdrawn)
            for unit_id, counts in drop.settled.items():
                key = settled_key(unit_id, partition)
                kept = settled.get(key)
                if kept is not None:
                    counts.add(kept.meeting_counts())
                settled.put(partition, key, SettledRow.of(unit_id, partition, counts))
            for key in drop.keys:
                attendance.delete(partition, key)
            dropped += len(drop.keys)
        self._present -= due - elsewhere
        log.info(
            "ended meetings' attendance dropped",
            fields={"meetings": sorted(due), "rows": dropped},
        )
        return dropped

    # --- partials --------------------------------------------------------------------------------

    async def publish_partials(self, partitions: Iterable[int] | None = None) -> int:
        """Publish what changed (in the given partitions, or all) and wait for the broker."""
        return await self.owned.publish(partitions)

    async def on_revoked(self, partitions: set[int]) -> None:
        await self.owned.revoke(partitions)

    async def rebuild(
        self,
        partitions: set[int],
        attendance: Iterable[AttendanceRow],
        workers: Iterable[WorkerRow],
        settled: Iterable[SettledRow] = (),
    ) -> int:
        """Recount the partitions this worker now owns from their recovered tables, and publish."""
        attendance = [row for row in attendance if row.partition in partitions]
        self._present = {row.meeting_id for row in attendance}
        live = by_partition(
            partitions, attendance, lambda row: attendance_contributions(row.attendance())
        )
        kept = by_partition(
            partitions,
            settled,
            lambda row: [(meeting_unit(SETTLED, row.unit_id), row.meeting_counts())],
        )
        counted = {
            ATTENDANCE: {p: chain(live[p], kept[p]) for p in partitions},
            WORKERS: by_partition(
                partitions,
                workers,
                lambda row: worker_contributions(row.booth_id, row.first_joined_at),
            ),
        }
        sent = await self.owned.rebuild(partitions, counted, self.view.held_of_partitions)
        sent += await self._withdraw_dropped(partitions)
        log.info(
            "meeting partials rebuilt from tables",
            fields={"partitions": sorted(partitions), "published": sent},
        )
        return sent

    async def _withdraw_dropped(self, partitions: set[int]) -> int:
        """Withdraw what the view still holds of dropped meetings in these partitions: a worker
        that stopped between deleting a meeting's rows and publishing their withdrawal left
        them, and the rebuild only zeroed them."""
        held = self.view.held_of_partitions(partitions)
        withdrawn = 0
        for partition in partitions:
            idents = held.get(partition, {}).get(ATTENDANCE, ())
            gone = [i for i in idents if self.dropped(split_meeting_unit(i)[0])]
            self.attendance_book.forget(partition, gone)
            withdrawn += len(gone)
        return await self.publish_partials(partitions) if withdrawn else 0

    # --- outputs ---------------------------------------------------------------------------------

    def section(self, unit_id: str) -> dict:
        """What GET /coverage/{unit_id} says of the unit's meetings."""
        view = self.view
        return meetings_section(
            view.unit_counts(unit_id),
            view.held(unit_id),
            view.workers_reached(unit_id),
            self.progress(unit_id),
        )

    def progress(self, unit_id: str):
        """The unit's meetings target and its projection, or None without a target."""
        target = self.targets.get(unit_id)
        if target is None:
            return None
        held = self.view.held(unit_id)
        return target, meetings_progress(target, held, self.clock(), self.rate_window_hours)

    async def refresh_gauges(self) -> None:
        """Per-state gauges from the view, for every state in the registry."""
        try:
            states = await self.registry.children(NATIONAL)
        except RegistryUnavailable:
            return
        in_progress: dict[str, int] = {}
        for meeting in self.view.meetings.values():
            if meeting["state"] == STARTED:
                for state in held_by(meeting)[1:2]:  # nation, state, ...: a national one has none
                    in_progress[state] = in_progress.get(state, 0) + 1
        for unit in states:
            state = unit["id"]
            metrics.set_state(
                state,
                {
                    **self.view.unit_counts(state).numbers(),
                    "held": self.view.held(state).count(),
                    "in_progress": in_progress.get(state, 0),
                    "workers_reached": self.view.workers_reached(state),
                },
            )
            progress = self.progress(state)
            if progress is not None:
                metrics.set_target(state, progress[1])


def _misplaced(booth_id: str, data: dict, row: AttendanceRow | None) -> str | None:
    """Why an attendance event cannot be counted where it says, or None if it can."""
    if booth_id != data["booth_id"] or not path_agrees(booth_id, data["booth_path"]):
        return f"booth_path of {data['booth_id']} does not match the booth's place in the tree"
    if row is not None and row.booth_id != booth_id:
        return f"participant counted at booth {row.booth_id} of this meeting, not {booth_id}"
    return None
