"""What the worker does with each report and WhatsApp group event, and with their partials.

Agents (agents.py) hand records here; tables are passed in as mappings, so unit tests run the
same code over dicts. Report records come in batches (Faust's take_events): per booth's part in
a dispatch the batch touched, one table row read and written once per batch whatever number of
its events the batch held (domain.fold_reports); in memory, the partial rollups of the units
above (nation … sector) changed once per batch by what all its rows changed add up to
(domain.rollup_deltas: their old contributions out, their new ones in). Per WhatsApp event, one row
(the booth's groups) and seven partials (the booth too). Partials go out on a timer, only those
changed, not per event.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from analytics.adapters.kafka import DeadLetters, PartialsOut
from analytics.adapters.registry import CachedRegistry, RegistryUnavailable
from analytics.coverage.domain import NATIONAL, units_above
from analytics.coverage.partials import PartialBook
from analytics.coverage.stream import PathMismatchError
from analytics.intake import Intake
from analytics.meetings.domain import path_agrees
from analytics.owned import OwnedPartials, by_partition
from analytics.reports import metrics
from analytics.reports.domain import (
    COUNTED,
    REPORT_TYPES,
    BoothGroups,
    BoothReport,
    Refused,
    ReportCounts,
    ReportEvent,
    WhatsAppCounts,
    fold_reports,
    group_contributions,
    report_contributions,
    report_key,
    rollup_deltas,
)
from analytics.reports.models import GroupsRow, ReportRow
from analytics.reports.report import coverage_sections
from analytics.reports.totals import ROLLUP, WHATSAPP, ReportsView
from shared.events import types
from shared.events.contracts import Event
from shared.kafka.consumer import REJECTED
from shared.logging import get_logger
from shared.sending.policy import IST

log = get_logger(__name__)


class ReportsStream(Intake):
    def __init__(
        self,
        *,
        registry: CachedRegistry,
        partials: PartialsOut,
        dead_letters: DeadLetters,
        group: str,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(dead_letters=dead_letters, group=group)
        self.registry, self.partials, self.clock = registry, partials, clock
        self.rollup_book: PartialBook[ReportCounts] = PartialBook(ROLLUP, ReportCounts)
        self.whatsapp_book: PartialBook[WhatsAppCounts] = PartialBook(WHATSAPP, WhatsAppCounts)
        self.owned = OwnedPartials(
            partials, (self.rollup_book, self.whatsapp_book), metrics.VISIBILITY_LAG, clock
        )
        self.view = ReportsView()

    # --- input records ---------------------------------------------------------------------------

    async def on_reports(self, messages: Sequence, reports: Rows) -> list[str]:
        """A batch of report-dispatched, -submitted, -reviewed records, in their order: each
        validated on its own; each booth's part in its dispatch read once, written once (to the
        changelog partition of the booth's records) and its contributions replaced once, however
        many of the batch's records it had."""
        outcomes: list[str] = [""] * len(messages)
        taken: list[tuple[int, Any, Event]] = []
        for i, message in enumerate(messages):
            event = await self.parse(message)
            if event is None:
                outcomes[i] = "dead_lettered"
            elif event.type not in REPORT_TYPES:
                outcomes[i] = self._count(event, "ignored")
            elif problem := _misplaced(event.subject, event.data):
                await self._dead_letter(message, event.type, REJECTED, PathMismatchError(problem))
                outcomes[i] = "dead_lettered"
            else:
                taken.append((i, message, event))

        def current(key: str) -> BoothReport | None:
            row = reports.get(key)
            return None if row is None else row.report()

        folded = fold_reports(
            (ReportEvent(e.type, e.data, e.time.timestamp()) for _, _, e in taken), current
        )
        partition_of: dict[str, int] = {}
        tally: Counter[tuple[str, str]] = Counter()
        for (i, message, event), outcome in zip(taken, folded.outcomes):
            if isinstance(outcome, Refused):
                error = PathMismatchError(outcome.problem)
                await self._dead_letter(message, event.type, REJECTED, error)
                outcomes[i] = "dead_lettered"
                continue
            tally[event.type, outcome] += 1
            outcomes[i] = outcome
            if outcome == COUNTED:
                partition_of[report_key(event.data["dispatch_id"], event.subject)] = (
                    message.partition
                )
                self.owned.counted(message.partition, event.time.timestamp())
        changes = []
        for key, partition in partition_of.items():
            if key in folded.changed:
                before, after = folded.changed[key]
                reports.put(partition, key, ReportRow.of(after, partition))
                changes.append((partition, before, after))
        for partition, deltas in rollup_deltas(changes).items():
            self.rollup_book.change(
                partition, ((ident, None, delta) for ident, delta in deltas.items())
            )
        self._count_many(tally)
        return outcomes

    async def on_group(self, message, groups: MutableMapping[str, GroupsRow]) -> str:
        """whatsapp-group-updated: the booth's groups and lists, each its latest state."""
        event = await self.parse(message)
        if event is None:
            return "dead_lettered"
        if event.type != types.WHATSAPP_GROUP_UPDATED:
            return self._count(event, "ignored")
        data, booth_id = event.data, event.subject
        problem = _misplaced(booth_id, data)
        if problem:
            await self._dead_letter(message, event.type, REJECTED, PathMismatchError(problem))
            return "dead_lettered"
        row = groups.get(booth_id)
        units = units_above(data["booth_path"])
        before = row.booth() if row is not None else BoothGroups(booth_id, units)
        after = before.apply(data["group_id"], data)
        if after is before:
            return self._count(event, "duplicate")
        groups[booth_id] = GroupsRow.of(after, message.partition)
        old = dict(group_contributions(before))
        self.whatsapp_book.change(
            message.partition,
            ((unit, old[unit], new) for unit, new in group_contributions(after)),
        )
        self.owned.counted(message.partition, event.time.timestamp())
        return self._count(event, "counted")

    # --- partials --------------------------------------------------------------------------------

    async def publish_partials(self, partitions: Iterable[int] | None = None) -> int:
        return await self.owned.publish(partitions)

    async def on_revoked(self, partitions: set[int]) -> None:
        await self.owned.revoke(partitions)

    async def rebuild(
        self, partitions: set[int], reports: Iterable[ReportRow], groups: Iterable[GroupsRow]
    ) -> int:
        """Recount the partitions this worker now owns from their recovered tables, and publish."""
        counted = {
            ROLLUP: by_partition(partitions, reports, lambda r: report_contributions(r.report())),
            WHATSAPP: by_partition(partitions, groups, lambda r: group_contributions(r.booth())),
        }
        sent = await self.owned.rebuild(partitions, counted, self.view.held_of_partitions)
        log.info(
            "report partials rebuilt from tables",
            fields={"partitions": sorted(partitions), "published": sent},
        )
        return sent

    # --- outputs ---------------------------------------------------------------------------------

    def today(self) -> str:
        """Today's period key: the local (IST) date, as dispatches name their daily rounds."""
        return datetime.fromtimestamp(self.clock(), IST).date().isoformat()

    def section(self, unit_id: str) -> dict:
        """What GET /coverage/{unit_id} says of the unit's reports today and WhatsApp groups."""
        return coverage_sections(self.view.day(unit_id, self.today()), self.view.whatsapp(unit_id))

    async def refresh_gauges(self) -> None:
        """Per-state gauges from the view, for every state in the registry."""
        try:
            states = await self.registry.children(NATIONAL)
        except RegistryUnavailable:
            return
        for unit in states:
            section = self.section(unit["id"])
            metrics.set_state(
                unit["id"],
                {
                    **{f"reports_{k}": n for k, n in section["reports"].items()},
                    **{f"whatsapp_{k}": n for k, n in section["whatsapp"].items()},
                },
            )


def _misplaced(booth_id: str, data: dict) -> str | None:
    """Why a booth event cannot be counted where it says, or None if it can."""
    if booth_id != data["booth_id"] or not path_agrees(booth_id, data["booth_path"]):
        return f"booth_path of {data['booth_id']} does not match the booth's place in the tree"
    return None


class Rows(Protocol):
    """A table's rows as the batch writes them: each to the changelog partition it names
    (adapters/tables.py; a dict's stand-in in unit tests)."""

    def get(self, key: str) -> Any: ...

    def put(self, partition: int, key: str, value: Any) -> None: ...
