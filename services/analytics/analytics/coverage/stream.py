"""What the worker does with each event, and with its partials: the stream's handlers.

Agents (agents.py) hand every record here; tables are passed in as mappings, so unit tests run
the same code over dicts. A bad record is dead-lettered and the stream goes on
(analytics/intake.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from datetime import datetime, timezone
from typing import Any

from analytics.adapters.kafka import CoverageOut, DeadLetters, PartialsOut
from analytics.adapters.registry import CachedRegistry, RegistryUnavailable
from analytics.coverage import metrics
from analytics.coverage.deadline import Target, progress
from analytics.coverage.domain import (
    APPOINTMENT_TYPES,
    HOUR_S,
    NATIONAL,
    PENDING,
    AppointmentChange,
    BoothTeam,
    Counts,
    Reach,
    contributions,
    directive_mark,
    mark_directive,
    path_matches,
    reach_of,
    units_above,
)
from analytics.coverage.models import BoothDirectivesRow, BoothRow
from analytics.coverage.partials import COVERAGE, REACH, CoverageView, PartialBook, due_updates
from analytics.intake import Intake
from analytics.owned import OwnedPartials, by_partition
from shared.events import types
from shared.events.contracts import Event
from shared.kafka.consumer import REJECTED
from shared.logging import get_logger
from shared.orgtree.levels import level_of, outermost

log = get_logger(__name__)

MAX_HOURS_KEPT = 168  # no rate window is longer than a week
COUNTED_LEVELS = frozenset({"national", "state", "district", "assembly", "mandal", "sector"})


class UnknownUnitError(Exception):
    """The event names a booth or unit that the org registry does not hold."""


class PathMismatchError(Exception):
    """The event's booth_path does not match the booth's place in the org registry."""


class CoverageStream(Intake):
    def __init__(
        self,
        *,
        registry: CachedRegistry,
        partials: PartialsOut,
        coverage: CoverageOut,
        dead_letters: DeadLetters,
        targets: dict[str, Target],
        rate_window_hours: float,
        group: str,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(dead_letters=dead_letters, group=group)
        self.registry, self.partials, self.coverage = registry, partials, coverage
        self.targets, self.rate_window_hours = targets, rate_window_hours
        self.stopping, self.clock = stopping, clock
        self.coverage_book: PartialBook[Counts] = PartialBook(COVERAGE, Counts)
        self.reach_book: PartialBook[Reach] = PartialBook(REACH, Reach)
        self.owned = OwnedPartials(
            partials,
            [self.coverage_book, self.reach_book],
            metrics.VISIBILITY_LAG,
            clock,
            self._prune_hours,
        )
        self.view = CoverageView()
        self._was_leader = False

    # --- input records ---------------------------------------------------------------------------

    async def on_appointment(self, message, booths: MutableMapping[str, BoothRow]) -> str:
        event = await self.parse(message)
        if event is None:
            return "dead_lettered"
        if event.type not in APPOINTMENT_TYPES:
            return self._count(event, "ignored")
        row = booths.get(event.subject)
        team = row.team() if row is not None else await self._new_team(message, event)
        if team is None:
            return "dead_lettered"
        at = event.time.timestamp()
        change = AppointmentChange.from_event(event.type, event.data, at)
        if change.status == PENDING:
            return self._count(event, "pending")  # counts once verified; that event says it all
        updated = team.apply(change)
        if updated is team:
            return self._count(event, "duplicate")
        booths[event.subject] = BoothRow.of(updated, message.partition)
        before = contributions(team) if row is not None else {}
        after = contributions(updated)
        self.coverage_book.change(
            message.partition, ((k, before.get(k), after.get(k)) for k in after)
        )
        self.owned.counted(message.partition, at)
        return self._count(event, "counted")

    async def on_reach(
        self,
        message,
        booth_directives: MutableMapping[str, BoothDirectivesRow],
        booths: MutableMapping[str, BoothRow],
    ) -> str:
        """delivery-status and directive-acknowledged: which booths a directive reached."""
        event = await self.parse(message)
        if event is None:
            return "dead_lettered"
        mark = directive_mark(event.type, event.data)
        if not mark:
            return self._count(event, "ignored")
        row = booth_directives.get(event.subject)
        if (
            row is None
            and event.subject not in booths
            and await self._new_team(message, event) is None
        ):
            return "dead_lettered"
        marks = row.marks if row is not None else {}
        updated = mark_directive(marks, event.data["directive_id"], mark)
        if updated is None:
            return self._count(event, "duplicate")
        at = event.time.timestamp()
        before_at = row.as_of if row is not None else None
        booth_directives[event.subject] = BoothDirectivesRow(
            booth_id=event.subject,
            partition=message.partition,
            marks=updated,
            as_of=max(at, before_at or at),
        )
        changed = {d for d in set(marks) | set(updated) if marks.get(d, 0) != updated.get(d, 0)}
        self.reach_book.change(
            message.partition,
            (
                (d, reach_of(marks.get(d, 0), None), reach_of(updated.get(d, 0), at))
                for d in changed
            ),
        )
        return self._count(event, "counted")

    async def on_directive(self, message) -> str:
        """directive-issued: how many booths it targets, published once for every worker."""
        event = await self.parse(message)
        if event is None:
            return "dead_lettered"
        if event.type != types.DIRECTIVE_ISSUED:
            return self._count(event, "ignored")
        data = event.data
        scope = outermost(data["scope"])  # a booth under two scope units counts once
        units = [await self.registry.unit_until_answered(u, self.stopping) for u in scope]
        unknown = [u for u, unit in zip(scope, units) if unit is None]
        if unknown:
            metrics.UNKNOWN_UNITS.labels(event.type).inc()
            await self._dead_letter(
                message,
                event.type,
                REJECTED,
                UnknownUnitError(
                    f"scope names units the registry does not hold: {', '.join(unknown)}"
                ),
            )
            return "dead_lettered"
        await self.partials.publish_directive(
            {
                "directive_id": data["directive_id"],
                "issuing_unit": data["issuing_unit"],
                "scope": data["scope"],
                "booths_targeted": sum(unit["booths"] for unit in units),
                "priority": data["priority"],
                "issued_at": data["issued_at"],
                "expires_at": data["expires_at"],
            }
        )
        return self._count(event, "counted")

    async def _new_team(self, message, event: Event) -> BoothTeam | None:
        """A booth seen for the first time: it must be in the registry, where the event says."""
        booth_id = event.subject
        units = units_above(event.data["booth_path"])
        unit = await self.registry.unit_until_answered(booth_id, self.stopping)
        if unit is None or unit["level"] != "booth":
            metrics.UNKNOWN_UNITS.labels(event.type).inc()
            await self._dead_letter(
                message,
                event.type,
                REJECTED,
                UnknownUnitError(f"booth {booth_id} is not in the org registry"),
            )
            return None
        if not path_matches(booth_id, units, unit["ancestors"]):
            await self._dead_letter(
                message,
                event.type,
                REJECTED,
                PathMismatchError(
                    f"booth_path of {booth_id} does not match the registry: "
                    f"{'/'.join(unit['ancestors'])}"
                ),
            )
            return None
        return BoothTeam(booth_id, units)

    # --- partials --------------------------------------------------------------------------------

    async def publish_partials(self, partitions: Iterable[int] | None = None) -> int:
        """Publish what changed (in the given partitions, or all) and wait for the broker."""
        return await self.owned.publish(partitions)

    def _prune_hours(self, book: PartialBook, items: list) -> None:
        """No rate window reaches back further than a week: older hours are not sent or kept."""
        if book is not self.coverage_book:
            return
        oldest_hour = int(self.clock() // HOUR_S) - MAX_HOURS_KEPT
        for partition, unit_id, counts in items:
            if counts.president_hours or counts.complete_hours:
                counts.prune_hours(oldest_hour)
                self.coverage_book.get(partition, unit_id).prune_hours(oldest_hour)

    async def on_revoked(self, partitions: set[int]) -> None:
        """Last word on partitions leaving this worker, before their new owner starts over."""
        await self.owned.revoke(partitions)
        metrics.PARTITIONS_OWNED.set(len(self.coverage_book.partitions()))

    async def rebuild(
        self,
        partitions: set[int],
        booths: Iterable[BoothRow],
        booth_directives: Iterable[BoothDirectivesRow],
    ) -> int:
        """Recount the partitions this worker now owns from their recovered tables, and publish.

        Partials another owner published for units these booths no longer count towards are
        overwritten with zeros, so the view never keeps a stale share.
        """
        counted = {
            COVERAGE: by_partition(
                partitions, booths, lambda row: contributions(row.team()).items()
            ),
            REACH: by_partition(
                partitions,
                booth_directives,
                lambda row: ((d, reach_of(flags, row.as_of)) for d, flags in row.marks.items()),
            ),
        }
        sent = await self.owned.rebuild(partitions, counted, self.view.held_of_partitions)
        metrics.PARTITIONS_OWNED.set(len(partitions))
        log.info(
            "partials rebuilt from tables",
            fields={"partitions": sorted(partitions), "published": sent},
        )
        return sent

    # --- outputs ---------------------------------------------------------------------------------

    async def emit_coverage(self, is_leader: bool) -> int:
        """coverage-updated for units whose totals changed since last said (the leader only).

        Called once per interval, so a unit gets at most one event per interval however many
        input events changed it. A worker that just became leader compares every unit.
        """
        changed = self.view.take_changed()
        if not is_leader:
            self._was_leader = False
            return 0
        units = self.view.units() if not self._was_leader else changed
        self._was_leader = True
        due = due_updates(self.view, units, lambda u: level_of(u) in COUNTED_LEVELS)
        updates = []
        for unit_id, totals in due:
            try:
                unit = await self.registry.unit(unit_id)
            except RegistryUnavailable:
                self.view.mark_changed([u for u, _ in due])  # said next time instead
                log.warning(
                    "registry unavailable; coverage updates wait", fields={"units": len(due)}
                )
                return 0
            if unit is None or totals.as_of is None:
                continue
            updates.append(coverage_data(unit, totals))
        sent = await self.coverage.publish(updates)
        for data in updates:
            self.view.published[data["unit_id"]] = tuple(data[n] for n in Counts.REPORTED)
        metrics.COVERAGE_PUBLISHED.inc(sent)
        return sent

    async def refresh_gauges(self) -> None:
        """Per-state gauges from the view, for every state in the registry (every worker exports
        the same numbers; a state nobody has counted yet shows zeros, not nothing)."""
        try:
            states = await self.registry.children(NATIONAL)
        except RegistryUnavailable:
            return
        for unit in states:
            totals = self.view.totals(unit["id"])
            metrics.set_state(unit["id"], unit["booths"], totals)
            target = self.targets.get(unit["id"])
            if target is not None:
                metrics.set_deadline(unit["id"], self.deadline(target, totals, unit["booths"]))

    def deadline(self, target: Target, totals: Counts, booths_in_registry: int):
        return progress(target, totals, booths_in_registry, self.clock(), self.rate_window_hours)


def coverage_data(unit: dict[str, Any], totals: Counts) -> dict[str, Any]:
    """The data of a coverage-updated event for a unit."""
    return {
        "unit_id": unit["id"],
        "level": unit["level"],
        "booths_total": unit["booths"],
        **{name: getattr(totals, name) for name in Counts.REPORTED},
        "as_of": datetime.fromtimestamp(totals.as_of, timezone.utc).isoformat(),
    }
