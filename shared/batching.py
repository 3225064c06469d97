"""Group commit: concurrent requests' MongoDB operations gathered into one round trip.

Used where many small writes arrive at once (reports' morning peak: thousands of answers a
second, nearly all a booth's first, each a small insert). One round trip each is what bounds the
service on a server that serialises writes (the local FerretDB: one `insert_one` ~1 ms of its
time, an `insert_many` of 100 documents ~25 ms). A
`Batcher` takes items from the handler threads, and its one thread runs them as batches: all that
waited while the previous batch ran, or what comes within `linger_s` of the first, at most `size`.

Guarantees:
- A caller returns only once its own item's batch has run, with its own item's outcome (a value,
  or the exception for that item: a duplicate key is one caller's, not the batch's).
- A batch that fails as a whole (the server away) gives every caller of it that failure, the
  ConnectionFailure the HTTP layer answers with a 503 and Retry-After; a caller that waits longer
  than `wait_s` gets a NetworkTimeout, never a hang. Its item may still run later: a retried
  request with the same client-made ids finds it (submissions are idempotent by id).
- One batch at a time, in arrival order.

`submit` blocks its thread; `submit_async` is awaited on an event loop, and the batch's thread
settles every waiting future of a loop with one call into it. Reports' answers waited in a
thread each: ~15 context switches an answer, and a third of the service's CPU samples in the
kernel at the morning peak (3.4 and 17 % awaited).
"""

from __future__ import annotations

import asyncio
import copy
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from prometheus_client import Histogram
from pymongo.errors import NetworkTimeout

from shared.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")
R = TypeVar("R")

BATCH_SIZES = Histogram(
    "sangathan_group_commit_batch_size",
    "Items a group commit ran in one round trip, by batch (its name: booth-reports, booths, …)",
    ["batch"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)


class _Slot:
    """One caller's item and outcome. `done` is a lock taken at birth and released once the
    outcome is in, which its caller waits to take: a bare lock, not a threading.Event (a
    Condition and its lock made per item, and a notify_all to set it), the most of what a
    batched item cost its caller at thousands of answers a second. An awaiting caller's slot
    has a future of its loop instead."""

    __slots__ = ("item", "done", "future", "result", "error")

    def __init__(self, item: Any, future: asyncio.Future | None = None):
        self.item, self.future = item, future
        self.done = None
        if future is None:
            self.done = threading.Lock()
            self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None


class Batcher(Generic[T, R]):
    """Runs `run(items)` on batches of concurrent callers' items; `run` returns one outcome per
    item, in order: its result, or an exception (raised to that caller alone)."""

    def __init__(
        self,
        name: str,
        run: Callable[[list[T]], Sequence[R | BaseException]],
        *,
        size: int,
        linger_s: float,
        wait_s: float,
    ):
        self.name, self.run = name, run
        self.size, self.linger_s, self.wait_s = size, linger_s, wait_s
        self._queue: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self._sizes = BATCH_SIZES.labels(name)

    def submit(self, item: T) -> R:
        """Its outcome once its batch has run: the result, or that item's exception raised."""
        slot = _Slot(item)
        self._started()
        self._queue.put(slot)
        if not slot.done.acquire(timeout=self.wait_s):
            raise NetworkTimeout(f"{self.name}: the batch did not run within {self.wait_s:g} s")
        if slot.error is not None:
            raise _own(slot.error)
        return slot.result

    async def submit_async(self, item: T) -> R:
        """As `submit`, awaited on the running loop instead of blocking a thread."""
        loop = asyncio.get_running_loop()
        slot = _Slot(item, loop.create_future())
        self._started()
        self._queue.put(slot)
        late = loop.call_later(self.wait_s, _too_late, slot.future, self.name, self.wait_s)
        try:
            return await slot.future
        finally:
            late.cancel()

    def _started(self) -> None:
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._loop, name=f"batch-{self.name}", daemon=True
                    )
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = self._gather()
            self._sizes.observe(len(batch))
            try:
                outcomes = list(self.run([s.item for s in batch]))
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{self.name}: {len(outcomes)} outcomes, {len(batch)} items")
            except Exception as exc:  # the whole batch failed: each caller gets it
                log.warning("batch failed", fields={"batch": self.name, "error": str(exc)[:200]})
                outcomes = [exc] * len(batch)
            awaited: dict[asyncio.AbstractEventLoop, list[_Slot]] = {}
            for slot, outcome in zip(batch, outcomes):
                if isinstance(outcome, BaseException):
                    slot.error = outcome
                else:
                    slot.result = outcome
                if slot.future is None:
                    slot.done.release()
                else:
                    awaited.setdefault(slot.future.get_loop(), []).append(slot)
            for loop, slots in awaited.items():
                try:
                    loop.call_soon_threadsafe(_settle, slots)
                except RuntimeError:  # the loop closed: nobody waits any more
                    pass

    def _gather(self) -> list[_Slot]:
        """The first waiting item, all that are waiting behind it, and what comes within the
        linger, up to `size`."""
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.linger_s
        while len(batch) < self.size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch


def _settle(slots: list[_Slot]) -> None:
    """On the callers' loop: each future gets its item's outcome (unless it gave up waiting)."""
    for slot in slots:
        if slot.future.done():
            continue
        if slot.error is not None:
            slot.future.set_exception(_own(slot.error))
        else:
            slot.future.set_result(slot.result)


def _too_late(future: asyncio.Future, name: str, wait_s: float) -> None:
    if not future.done():
        future.set_exception(NetworkTimeout(f"{name}: the batch did not run within {wait_s:g} s"))


def _own(error: BaseException) -> BaseException:
    """A copy of a batch-wide exception for one caller (each thread raises its own traceback)."""
    try:
        mine = copy.copy(error)
    except Exception:
        return error
    return mine if type(mine) is type(error) else error
