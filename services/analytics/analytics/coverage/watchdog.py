"""A watch on Faust's table recovery, which can stall for good after a rebalance.

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
    def __init__(self, recovery, timeout_s: float, on_stall: Callable[[Exception], object],
                 clock: Callable[[], float] = time.monotonic):
        self.recovery, self.timeout_s, self.on_stall, self.clock = recovery, timeout_s, on_stall, clock
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
        log.error("table recovery stalled; crashing so the worker is started afresh",
                  fields={"stalled_s": round(self.clock() - self._since), "offsets": stalled})
        self.on_stall(RecoveryStalled(f"no changelog record for {self.timeout_s:.0f}s during recovery"))
        return False

    def start(self, interval_s: float = 2.0) -> None:
        """Watch in the background from the first rebalance on (before Faust's own timers run)."""
        if self._task is not None:
            return

        async def watch() -> None:
            while self.check():
                await asyncio.sleep(interval_s)

        self._task = asyncio.ensure_future(watch())
