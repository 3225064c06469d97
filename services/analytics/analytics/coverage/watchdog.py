"""Watches on two ways a Faust worker can stop counting without dying.

Table recovery (RecoveryWatch) can stall for good after a rebalance.

Seen here about once in twenty two-worker rebalances taken while busy: recovery starts reading
the changelogs and no record ever arrives, so the worker never resumes (the symptom of
faust-streaming #74 and robinhood/faust #218). Faust only logs "No event received for active
tp". A stalled worker holds its partitions and counts nothing, so this crashes it instead: its
supervisor starts it again, and a fresh start recovers from the changelogs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.logging import get_logger

log = get_logger(__name__)


class RecoveryStalled(Exception):
    """Table recovery made no progress for too long."""


class RecoveryWatch:
    def __init__(
        self,
        recovery,
        timeout_s: float,
        on_stall: Callable[[Exception], object],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.recovery, self.timeout_s, self.on_stall, self.clock = (
            recovery,
            timeout_s,
            on_stall,
            clock,
        )
        self._last: tuple | None = None
        self._since = clock()
        self._task: asyncio.Task | None = None
        self._held = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Not a stall: our own work inside recovery (waiting for the view to catch up)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            self._since = self.clock()

    def check(self) -> bool:
        """True while fine; calls on_stall (once) and returns False when recovery has stalled."""
        if self._held or not self.recovery.in_recovery:
            self._last, self._since = None, self.clock()
            return True
        progress = tuple(sorted(self.recovery.active_offsets.items()))
        if progress != self._last:
            self._last, self._since = progress, self.clock()
            return True
        if self.clock() - self._since < self.timeout_s:
            return True
        stalled = {str(tp): offset for tp, offset in progress}
        log.error(
            "table recovery stalled; crashing so the worker is started afresh",
            fields={"stalled_s": round(self.clock() - self._since), "offsets": stalled},
        )
        self.on_stall(
            RecoveryStalled(f"no changelog record for {self.timeout_s:.0f}s during recovery")
        )
        return False

    def start(self, interval_s: float = 2.0) -> None:
        """Watch in the background from the first rebalance on (before Faust's own timers run)."""
        if self._task is not None:
            return

        async def watch() -> None:
            while self.check():
                await asyncio.sleep(interval_s)

        self._task = asyncio.ensure_future(watch())


TP = tuple[str, int]


class PartitionStallWatch:
    """Owned input partitions with records waiting whose committed offset has not moved for
    `timeout_s`: after a rebalance a Faust worker can hold a partition and never fetch from it
    again (faust-streaming #629, #175), and nothing else would notice. The worker's /healthz
    then fails, so its supervisor (the kubelet's liveness probe) starts it afresh. Not while a
    rebalance or recovery is under way: streams are paused then on purpose.
    """

    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self.timeout_s, self.clock = timeout_s, clock
        self._seen: dict[TP, tuple[int, float]] = {}  # partition -> (committed offset, since when)
        self.stalled: list[TP] = []

    def observe(
        self, owned: set[TP], committed: dict[TP, int], lag: dict[TP, int], busy: bool
    ) -> list[TP]:
        """Take one measurement; returns (and keeps in `stalled`) the partitions stalled now."""
        now = self.clock()
        if busy:
            self._seen.clear()
            self.stalled = []
            return self.stalled
        for tp in list(self._seen):
            if tp not in owned or not lag.get(tp):
                del self._seen[tp]  # moved away, or caught up
        for tp in owned:
            if lag.get(tp) and tp in committed:
                offset, since = self._seen.get(tp, (None, now))
                self._seen[tp] = (committed[tp], since if offset == committed[tp] else now)
        stalled = sorted(
            tp for tp, (_, since) in self._seen.items() if now - since >= self.timeout_s
        )
        if stalled and stalled != self.stalled:
            log.error(
                "partitions with records waiting have not moved; "
                "/healthz fails so the worker restarts",
                fields={
                    "partitions": [f"{t}:{p}" for t, p in stalled],
                    "stalled_s": self.timeout_s,
                },
            )
        self.stalled = stalled
        return stalled
