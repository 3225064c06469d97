"""Inviting a meeting's audience: every invitee stored once and announced (participant-invited),
a state's 65,015 booth presidents on Kafka in seconds rather than minutes.

- **Chunks read in parallel.** The audience's chunks (domain.chunks: a state's districts, then
  the speakers) are streamed from the appointments service `streams` at a time, so one chunk's
  waits (its server generating, the network) overlap another's work.
- **Events never wait for the store.** This thread (the job's) makes and produces each batch's
  events as soon as it is read; invitees are written meanwhile by `writers` threads, one
  unordered batch insert each. Only this thread produces and flushes, so every flush confirms
  what this job produced.
- **Done only when stored and confirmed.** A chunk counts as done once its stream ended, its
  writes are stored and Kafka took its events: one flush, at most every `MARK_EVERY_S`, covers
  every chunk ready since the last. A chunk whose stream fails lets the others finish; the job's
  retry reads only the unfinished ones again, repeating their event ids (consumers take them
  once) and their inserts (kept once).
- **Memory bounded.** At most `read_ahead` batches are read and not yet announced, and `ahead`
  announced and not yet stored (an invitee in memory is ~1.3 KB: 72 batches of 1,000, ~95 MB).
  The store is the slower side (FerretDB takes one insert at a time, ~80 µs of its CPU a
  document), so `ahead` decides how long events wait for it: with 16, each batch after the
  16th waited for the store to finish one (bench/meetings_invite_ops.py, 30,000 invitees: the
  last event at 2.9-4.6 s of a 5-8 s pass; with 64, at 1.1-2.8 s), most of MP's 65 batches.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from meetings.domain import Invitee, invited_event_id
from shared.events import types

MARK_EVERY_S = 2.0  # how often finished chunks are confirmed and recorded while others run
_READ = object()  # a chunk's stream has ended


@dataclass
class Chunk:
    unit: str
    count: int = 0
    writes: list[Future] = field(default_factory=list)


@dataclass
class Inviting:
    """What inviting needs: `read(unit)` streams a chunk's invitees (made, not yet stored),
    `store(invitees)` stores a batch once, `emit_many`/`flush` are the event publisher's,
    `done(unit, count)` records a finished chunk."""

    read: Callable[[str], Iterator[Invitee]]
    store: Callable[[list[Invitee]], int]
    emit_many: Callable[[str, Iterable[tuple[dict, str]]], object]
    flush: Callable[[float], None]
    done: Callable[[str, int], None]
    batch: int = 1000
    streams: int = 4
    writers: int = 2
    ahead: int = 64
    read_ahead: int = 8


def invite(units: list[str], job: Inviting) -> None:
    """Invite every chunk in `units`; raises what a stream, the store or Kafka raised, after
    recording the chunks finished before it."""
    chunks = {unit: Chunk(unit) for unit in units}
    arrived: queue.Queue = queue.Queue(maxsize=job.read_ahead)
    in_flight = threading.BoundedSemaphore(job.ahead)
    stopping = threading.Event()
    reading = ThreadPoolExecutor(job.streams, thread_name_prefix="invite-read")
    storing = ThreadPoolExecutor(job.writers, thread_name_prefix="invite-store")
    try:
        for unit in units:
            reading.submit(_read, unit, job, arrived, stopping)
        _take(chunks, arrived, in_flight, storing, job)
    except BaseException:
        stopping.set()  # the streams still open stop at their next batch
        raise
    finally:
        reading.shutdown(wait=True, cancel_futures=True)  # chunks not begun are left to the retry
        storing.shutdown(wait=True)


def _read(unit: str, job: Inviting, arrived: queue.Queue, stopping: threading.Event) -> None:
    """One chunk's invitees, batch by batch, onto `arrived`; then _READ, or what went wrong."""
    if stopping.is_set():
        return
    try:
        batch: list[Invitee] = []
        for invitee in job.read(unit):
            batch.append(invitee)
            if len(batch) >= job.batch:
                if not _put(arrived, (unit, batch), stopping):
                    return
                batch = []
        if batch and not _put(arrived, (unit, batch), stopping):
            return
        _put(arrived, (unit, _READ), stopping)
    except Exception as exc:
        _put(arrived, (unit, exc), stopping)


def _put(arrived: queue.Queue, item: tuple, stopping: threading.Event) -> bool:
    """Wait for room (the job is behind), unless the job has stopped; False if it has."""
    while not stopping.is_set():
        try:
            arrived.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _take(chunks: dict[str, Chunk], arrived, in_flight, storing, job: Inviting) -> None:
    """Store and announce batches as they arrive; record chunks as they finish. A chunk whose
    stream failed lets the others finish, then its error is raised."""
    reading, ready, marked, failed = len(chunks), [], time.monotonic(), None
    while reading:
        unit, item = arrived.get()
        chunk = chunks[unit]
        if isinstance(item, Exception):
            reading, failed = reading - 1, failed or item
        elif item is _READ:
            reading -= 1
            ready.append(chunk)
        else:
            in_flight.acquire()  # the store is `ahead` batches behind: wait for it
            write = storing.submit(job.store, item)
            write.add_done_callback(lambda _: in_flight.release())
            chunk.writes.append(write)
            _announce(item, job)
            chunk.count += len(item)
        if ready and (not reading or time.monotonic() - marked >= MARK_EVERY_S):
            ready, marked = _record(ready, job, not reading, failed), time.monotonic()
    if failed is not None:
        raise failed


def _announce(invitees: list[Invitee], job: Inviting) -> None:
    """A batch's participant-invited, produced as one batch (the publisher serves its delivery
    reports once); each id derived from the invitee, so a retry repeats it."""
    job.emit_many(
        types.PARTICIPANT_INVITED,
        (
            (invitee.event_data(), invited_event_id(invitee.meeting_id, invitee.participant_id))
            for invitee in invitees
        ),
    )


def _record(ready: list[Chunk], job: Inviting, wait: bool, failed: Exception | None) -> list[Chunk]:
    """Record the chunks whose writes are stored, once Kafka took everything produced so far;
    the chunks still being written are returned (with `wait`, none: it waits for them)."""
    stored = [c for c in ready if wait or all(w.done() for w in c.writes)]
    if not stored:
        return ready
    try:
        for chunk in stored:
            for write in chunk.writes:
                write.result()  # raises what the store raised
        job.flush(30.0)  # raises unless Kafka took every event produced so far
    except Exception:
        if failed is not None:  # a stream failed first: its error is the one to raise
            return ready
        raise
    for chunk in stored:
        job.done(chunk.unit, chunk.count)
    return [c for c in ready if c not in stored]
