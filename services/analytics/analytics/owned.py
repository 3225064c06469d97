"""The partials of the partitions this worker owns, for one stream: published together.

Each stream (coverage, meetings) keeps its sums per source partition in partial books
(coverage/partials.py). This sends what changed on each tick (a failed send goes again on the
next: a partial is the latest value, not a delta), has the last word on partitions leaving the
worker before their new owner starts over, and recounts partitions arriving from their recovered
table rows, zeroing what the view still holds of them that no row counts any more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice
from typing import Any

from prometheus_client import Histogram

from analytics.adapters.kafka import PartialsOut
from analytics.coverage import metrics
from analytics.coverage.partials import PartialBook

# What the view holds, per partition, then kind: ident -> partial.
Held = Callable[[set[int]], Mapping[int, Mapping[str, Mapping[str, Any]]]]

# Contributions folded between two turns of the event loop during a rebuild: a state's meetings
# are millions, and a rebuild that held the loop for minutes missed the consumer's heartbeats,
# so the group rebalanced and the worker rebuilt again, over and over.
FOLD_CHUNK = 20_000


def by_partition(
    partitions: set[int], rows: Iterable[Any], contributions: Callable[[Any], Iterable[tuple]]
) -> dict[int, Iterator[tuple]]:
    """What the table rows of each given partition contribute (rows carry their partition),
    computed as the rebuild takes them, not all held at once."""
    rows_of: dict[int, list] = {p: [] for p in partitions}
    for row in rows:
        if row.partition in rows_of:
            rows_of[row.partition].append(row)
    return {p: chain.from_iterable(map(contributions, rows)) for p, rows in rows_of.items()}


class OwnedPartials:
    def __init__(
        self,
        out: PartialsOut,
        books: Sequence[PartialBook],
        lag: Histogram,
        clock: Callable[[], float] = time.time,
        prepare: Callable[[PartialBook, list], None] = lambda book, items: None,
    ):
        self.out, self.books, self.lag, self.clock = out, books, lag, clock
        self.prepare = prepare  # last touches before sending (coverage prunes old hours)
        self._oldest_event: dict[int, float] = {}  # per partition: oldest event not yet published

    def counted(self, partition: int, at: float) -> None:
        """An event of `partition` at `at` changed a partial: its lag is measured once sent."""
        self._oldest_event.setdefault(partition, at)

    def partitions(self) -> set[int]:
        return set().union(*(book.partitions() for book in self.books))

    async def publish(self, partitions: Iterable[int] | None = None) -> int:
        """Publish what changed (in the given partitions, or all) and wait for the broker."""
        async with self.out.lock:
            return await self._publish(partitions)

    async def _publish(self, partitions: Iterable[int] | None) -> int:
        partitions = None if partitions is None else list(partitions)
        taken = [(book, book.take_dirty(partitions)) for book in self.books]
        # Encoded before the first wait: the books' values are taken as they are, and the agents
        # change them again as soon as the loop runs them.
        records = []
        for book, items in taken:
            self.prepare(book, items)
            records += self.out.encode(book.kind, items)
        try:
            sent = await self.out.send(records)
        except Exception:
            for book, items in taken:
                book.mark_dirty((p, k) for p, k, _ in items)
            raise
        now = self.clock()
        for partition in list(self._oldest_event) if partitions is None else partitions:
            at = self._oldest_event.pop(partition, None)
            if at is not None:
                self.lag.observe(max(0.0, now - at))
        metrics.PARTIALS_PUBLISHED.inc(sent)
        return sent

    async def revoke(self, partitions: set[int]) -> None:
        """Last word on partitions leaving this worker, before their new owner starts over."""
        async with self.out.lock:
            mine = partitions & self.partitions()
            await self._publish(mine)
            self._drop(mine)

    async def rebuild(
        self, partitions: set[int], counted: Mapping[str, Mapping[int, Iterable]], held: Held
    ) -> int:
        """Start the owned partitions over from what their rows count (by book kind, then
        partition), and publish what differs from the view's (`held`); keys the view holds of
        them and no row makes are overwritten with zeros, so the view never keeps a stale
        share. The event loop runs between chunks of the count."""
        async with self.out.lock:
            self._drop(self.partitions() - partitions)
            views = held(partitions)
            for partition in partitions:
                for book in self.books:
                    part: dict = {}
                    contributions = iter(counted[book.kind][partition])
                    while chunk := list(islice(contributions, FOLD_CHUNK)):
                        book.fold(part, chunk)
                        await asyncio.sleep(0)
                    book.replace(partition, part, views.get(partition, {}).get(book.kind, {}))
            return await self._publish(partitions)

    def _drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            for book in self.books:
                book.drop(partition)
