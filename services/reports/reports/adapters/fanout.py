"""The fan-out: one report-dispatched event per booth of each round's scope.

A round is its own outbox: the round document is written once, and this job walks its scope's
booths page by page (the registry's booth pages, 1,000 booths a lookup, so the nation's 1,048,202
booths are ~1,050 reads, never one per booth), publishes a page's events, and after Kafka
confirmed them moves the round's cursor on. A crash between publishing and the cursor publishes
those pages again with the same event ids (derived from dispatch and booth), which consumers
de-duplicate; nothing is skipped. Rounds are few, so one thread serves them in turn.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter

from reports import domain
from reports.adapters.mongo import Rounds
from reports.domain import Round
from reports.ports import Units
from shared.events import types
from shared.events.contracts import Event
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.logging import get_logger
from shared.orgtree.levels import booth_path

log = get_logger(__name__)

DISPATCHED = Counter(
    "sangathan_reports_booths_dispatched", "report-dispatched events Kafka confirmed"
)
FLUSH_TIMEOUT_S = 30.0


class FanOut:
    def __init__(
        self,
        rounds: Rounds,
        units: Units,
        publisher: EventPublisher,
        *,
        pages_per_flush: int = 20,
        interval_s: float = 0.5,
    ):
        self.rounds, self.units, self.publisher = rounds, units, publisher
        self.pages_per_flush, self.interval_s = pages_per_flush, interval_s

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                worked = self.once(stop)
            except DeliveryError as exc:
                log.warning("fan-out could not publish", fields={"error": str(exc)[:200]})
                worked = False
            if not worked:
                stop.wait(self.interval_s)

    def once(self, stop: threading.Event | None = None) -> bool:
        """Finish (or go on with) every round still fanning out; whether there was any."""
        found = False
        for round_, cursor in self.rounds.fanning_out():
            found = True
            self.fan_out(round_, dict(cursor), stop)
        return found

    def fan_out(self, round_: Round, cursor: dict, stop: threading.Event | None = None) -> None:
        pages = 0
        while cursor["unit"] < len(round_.scope):
            if stop is not None and stop.is_set():
                return
            booths = self.units.booth_page(round_.scope[cursor["unit"]], cursor["page"])
            if not booths:
                cursor.update(unit=cursor["unit"] + 1, page=0)
                continue
            for booth_id in booths:
                self.publisher.publish(self._event(round_, booth_id))
            cursor.update(page=cursor["page"] + 1, booths=cursor["booths"] + len(booths))
            pages += 1
            if pages % self.pages_per_flush == 0:
                self._confirm(round_, cursor)
        cursor["done"] = True
        self._confirm(round_, cursor)
        log.info(
            "report dispatched",
            fields={"dispatch_id": round_.dispatch_id, "booths": cursor["booths"]},
        )

    def _confirm(self, round_: Round, cursor: dict) -> None:
        before = (self.rounds.progress(round_.dispatch_id) or {}).get("booths", 0)
        self.publisher.flush(FLUSH_TIMEOUT_S)
        self.rounds.advance(round_.dispatch_id, cursor)
        DISPATCHED.inc(cursor["booths"] - before)

    def _event(self, round_: Round, booth_id: str) -> Event:
        # Built here rather than with `emit`: the publisher validates it once on the way out, and
        # the id and time are the round's, so a page published again is the very same event.
        data = domain.report_dispatched(round_, booth_id, booth_path(booth_id), round_.send_at)
        return Event(
            domain.dispatched_event_id(round_.dispatch_id, booth_id),
            types.REPORT_DISPATCHED,
            self.publisher.source,
            booth_id,
            round_.send_at,
            data,
        )
