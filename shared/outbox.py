"""The loop every transactional-outbox relay runs (appointments' booth teams, reports' forms and
answers): publish what is pending, back off while Kafka is away, and (appointments) now and then
sweep for the pointers a crash between a write and its pointer lost. Kafka being down only delays
events; the writes that caused them have already succeeded."""

import threading
import time
from collections.abc import Callable

from prometheus_client import Counter

from shared.kafka.producer import DeliveryError
from shared.logging import get_logger

log = get_logger(__name__)

# A relay's producer gives up on a message after this, before its flush does, so a Kafka outage
# never piles copies of the same events into the client's queue.
PRODUCER_CONFIG = {"message.timeout.ms": 8000}
FLUSH_TIMEOUT_S = 10.0


def relay_until_stopped(
    stop: threading.Event,
    relay_once: Callable[[], int],
    sweep: Callable[[], object] | None,
    *,
    interval_s: float,
    sweep_interval_s: float = 60.0,
    max_backoff_s: float,
    failures: Counter | None = None,
) -> None:
    """Call `relay_once` (events published) again at once while it finds work, else every
    `interval_s`; after a failure wait twice as long each time, up to `max_backoff_s`. `sweep`,
    if any, first and every `sweep_interval_s` (None: every write points before it is made, as
    reports' do, so there is nothing to sweep for)."""
    if sweep is not None:
        sweep()  # pointers a crash may have lost
    next_sweep, backoff = time.monotonic() + sweep_interval_s, interval_s
    while not stop.is_set():
        try:
            published = relay_once()
            backoff = interval_s
        except DeliveryError as exc:
            if failures is not None:
                failures.inc()
            log.warning(
                "outbox relay could not publish; will retry", fields={"error": str(exc)[:200]}
            )
            published, backoff = 0, min(backoff * 2 or 0.1, max_backoff_s)
        except Exception:
            log.exception("outbox relay round failed; will retry")
            published, backoff = 0, min(backoff * 2 or 0.1, max_backoff_s)
        if sweep is not None and time.monotonic() >= next_sweep:
            sweep()
            next_sweep = time.monotonic() + sweep_interval_s
        if not published:
            stop.wait(backoff)
