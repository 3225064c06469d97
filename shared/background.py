"""Background threads of a service: Kafka consumers and periodic jobs, each restarted after a
failure, so a hiccup (Kafka, Redis or MongoDB away for a moment) never silently stops its work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.kafka.consumer import EventConsumer
from shared.logging import get_logger

log = get_logger(__name__)

RESTART_PAUSE_S = 2.0


class Background:
    """A thread running `body(stop)` until stopped; restarted after a failure."""

    def __init__(
        self,
        name: str,
        body: Callable[[threading.Event], None],
        restart_pause_s: float = RESTART_PAUSE_S,
    ):
        self.name, self._body, self._pause_s = name, body, restart_pause_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._body(self._stop)
            except Exception as exc:
                log.error(
                    "background job failed; restarting",
                    fields={
                        "job": self.name,
                        "error_class": type(exc).__name__,
                        "error": str(exc)[:300],
                    },
                )
                self._stop.wait(self._pause_s)


def periodic(name: str, job: Callable[[], int | bool], interval_s: float) -> Background:
    """Run `job` again at once while it finds work, else every `interval_s`."""

    def body(stop: threading.Event) -> None:
        while not stop.is_set():
            if not job():
                stop.wait(interval_s)

    return Background(name, body)


def consuming(
    name: str, make: Callable[[], EventConsumer], restart_pause_s: float = RESTART_PAUSE_S
) -> Background:
    """Run a fresh consumer from `make` until stopped; after a failure a new one rejoins the group
    from the last committed offset. Closing leaves the group at once, so a restarted service gets
    its partitions without waiting out its old self's session timeout."""

    def body(stop: threading.Event) -> None:
        consumer = make()
        try:
            consumer.run(stop)
        finally:
            try:
                consumer.close()
            except Exception as exc:
                log.warning(
                    "consumer did not close cleanly",
                    fields={"job": name, "error_class": type(exc).__name__},
                )

    return Background(name, body, restart_pause_s)


PREPARE_RETRY_S = 2.0


@dataclass
class BackgroundJobs:
    """A service's wiring that runs jobs beside its HTTP app: started with it, stopped in reverse.

    A service whose jobs need something done first (its topics made, a cache restored) gives
    `prepare`: it is retried in its own thread until it succeeds and only then are the jobs
    started, so the HTTP app comes up at once while a datastore is still down and /readyz says
    what is missing meanwhile."""

    background: list[Background] = field(default_factory=list, kw_only=True)
    prepare: Callable[[], None] | None = field(default=None, kw_only=True)
    _started: list[Background] = field(default_factory=list, init=False, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(self) -> None:
        if self.prepare is None:
            self._start_jobs()
            return
        threading.Thread(target=self._prepare_then_start, name="prepare", daemon=True).start()

    def stop(self) -> None:
        with self._lock:  # no job starts after this
            self._stopping.set()
        for job in reversed(self._started):
            job.stop()

    def _prepare_then_start(self) -> None:
        while not self._stopping.is_set():
            try:
                self.prepare()
                break
            except Exception as exc:
                log.warning(
                    "start-up waits for its datastores", fields={"error_class": type(exc).__name__}
                )
                self._stopping.wait(PREPARE_RETRY_S)
        self._start_jobs()

    def _start_jobs(self) -> None:
        with self._lock:
            for job in self.background:
                if self._stopping.is_set():
                    return
                job.start()
                self._started.append(job)
