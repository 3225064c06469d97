"""Reads person-erased events so the simulator drops its copies, as a provider deletes what it
holds when the data fiduciary asks (DPDP Act)."""

from __future__ import annotations

import asyncio
import uuid

from shared.background import Background, consuming
from shared.events import types
from shared.kafka.consumer import EventConsumer
from shared.logging import get_logger
from shared.topics import DEAD_LETTER, ERASURES
from simulator import commands, handlers
from simulator.settings import SimulatorSettings

log = get_logger(__name__)


def erasure_consumer(settings: SimulatorSettings, handler) -> EventConsumer:
    """Every simulator reads every erasure (its messages live in its own memory), so each process
    is a group of its own, from the newest: what it held before it started is gone anyway."""
    return EventConsumer(
        settings.kafka_bootstrap,
        f"simulator-erasures-{uuid.uuid4().hex[:12]}",
        [settings.topic_namespace + ERASURES.name],
        handler,
        dead_letter_topic=settings.topic_namespace + DEAD_LETTER.name,
        config={"auto.offset.reset": "latest"},
    )


def erasures_job(
    settings: SimulatorSettings, provider: handlers.Provider, loop: asyncio.AbstractEventLoop
) -> Background:
    """The consumer in a background thread; each erasure is applied on the event loop, which
    owns the provider's state, before its offset is committed."""

    async def forget(references: frozenset[str]) -> int:
        return handlers.handle(provider, commands.ForgetPeople(references))

    def on_event(event) -> None:
        if event.type == types.PERSON_ERASED:
            references = frozenset({event.data["appointment_id"]})
            dropped = asyncio.run_coroutine_threadsafe(forget(references), loop).result(30)
            log.info(
                "erased person's messages dropped",
                fields={"erasure_id": event.data["erasure_id"], "messages": dropped},
            )

    return consuming("simulator-erasures", lambda: erasure_consumer(settings, on_event))
