"""Records in, for every stream of the worker: each record's event, or a dead letter saying why.

Nothing here raises for a bad record: it is dead-lettered and the stream goes on (an exception in
a Faust agent would crash it and, with Faust's commit on error, skip the record;
faust-streaming issue #315).
"""

from __future__ import annotations

from collections.abc import Mapping

from analytics.adapters.kafka import DeadLetters
from analytics.coverage import metrics
from shared.events import types
from shared.events.contracts import Event, InvalidEventError, UnparseableEventError, from_kafka
from shared.kafka.consumer import EVENTS_CONSUMED, INVALID, UNPARSEABLE


class Intake:
    def __init__(self, *, dead_letters: DeadLetters, group: str):
        self.dead_letters, self.group = dead_letters, group

    async def parse(self, message) -> Event | None:
        """The record's event, or None once it is dead-lettered for failing its contract."""
        try:
            return from_kafka(message.headers, message.key, message.value)
        except UnparseableEventError as exc:
            await self._dead_letter(message, "unparseable", UNPARSEABLE, exc)
        except InvalidEventError as exc:
            # The type is the sender's text: a metric label only if it is one we know.
            known = exc.event_type if exc.event_type in types.ALL else "unknown"
            await self._dead_letter(message, known, INVALID, exc)
        return None

    def _count(self, event: Event, outcome: str) -> str:
        metrics.EVENTS.labels(event.type, outcome).inc()
        EVENTS_CONSUMED.labels(self.group, event.type).inc()
        return outcome

    def _count_many(self, tally: Mapping[tuple[str, str], int]) -> None:
        """Events counted by (type, outcome) at once: a batch's."""
        for (event_type, outcome), n in tally.items():
            metrics.EVENTS.labels(event_type, outcome).inc(n)
            EVENTS_CONSUMED.labels(self.group, event_type).inc(n)

    async def _dead_letter(self, message, event_type: str, reason: str, exc: Exception) -> None:
        metrics.EVENTS.labels(event_type, "dead_lettered").inc()
        await self.dead_letters.send(message, reason, exc)
