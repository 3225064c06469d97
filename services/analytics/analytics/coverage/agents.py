"""The Faust wiring: topics, tables, agents, timers and rebalance hooks. Each only translates.

Agents run with concurrency 1: with more, faust-streaming can commit an offset past a record
still being processed and lose it in a crash (issue #606). One record at a time, acknowledged
only once handled, and committed only once its table rows are on the broker
(adapters/changelog.py), is at-least-once; the booth tables make a replay harmless.
"""

from __future__ import annotations

import asyncio

from analytics.app import app, settings
from analytics.bootstrap import build_streams, partials_topic_name
from analytics.coverage.models import BoothDirectivesRow, BoothRow
from analytics.coverage.watchdog import RecoveryWatch
from shared.logging import get_logger
from shared.topics import APPOINTMENTS

log = get_logger(__name__)

stream, meetings_stream, view_reader = build_streams(app, settings)

BOOTH_KEYED = (
    settings.appointments_topic,
    settings.delivery_status_topic,
    settings.directive_acks_topic,
)
# Raw bytes in: the stream validates each record itself, so one bad record cannot stop it.
RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}

appointments_topic = app.topic(settings.appointments_topic, **RAW)
reach_topic = app.topic(settings.delivery_status_topic, settings.directive_acks_topic, **RAW)
directives_topic = app.topic(settings.directives_topic, **RAW)
partials_topic = app.topic(
    partials_topic_name(settings),
    partitions=APPOINTMENTS.partitions,
    internal=True,
    compacting=True,
    **RAW,
)

# Keyed by booth and co-partitioned with the booth-keyed topics: a booth's row is written to the
# changelog partition of the record that changed it, and comes back from there on restart.
booths = app.Table("booths", key_type=str, value_type=BoothRow, partitions=APPOINTMENTS.partitions)
booth_directives = app.Table(
    "booth-directives",
    key_type=str,
    value_type=BoothDirectivesRow,
    partitions=APPOINTMENTS.partitions,
)


@app.agent(appointments_topic, concurrency=1)
async def count_appointments(records):
    async for record in records.events():
        await stream.on_appointment(record.message, booths)


@app.agent(reach_topic, concurrency=1)
async def count_reach(records):
    async for record in records.events():
        await stream.on_reach(record.message, booth_directives, booths)


@app.agent(directives_topic, concurrency=1)
async def count_directives(records):
    async for record in records.events():
        await stream.on_directive(record.message)


def start_view_reader() -> None:
    # Started by the first rebalance, which waits for it: Faust runs @app.task coroutines only
    # once the worker is up, and the worker is up only after that first rebalance.
    view_reader.start(
        partials_topic.maybe_declare, lambda exc: asyncio.ensure_future(app.crash(exc))
    )


recovery_watch = RecoveryWatch(
    app.tables.recovery,
    settings.recovery_stall_s,
    lambda exc: asyncio.ensure_future(app.crash(exc)),
)


@app.on_partitions_assigned.connect
async def on_partitions_assigned(sender, assigned, **kwargs) -> None:
    recovery_watch.start()


@app.on_partitions_revoked.connect
async def on_partitions_revoked(sender, revoked, **kwargs) -> None:
    await stream.on_revoked({tp.partition for tp in revoked if tp.topic in BOOTH_KEYED})


@app.on_rebalance_complete.connect
async def on_rebalance_complete(sender, **kwargs) -> None:
    # Tables are recovered and streams not resumed yet: recount what this worker now owns.
    start_view_reader()
    with recovery_watch.held():
        await view_reader.ready.wait()
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in BOOTH_KEYED}
        await stream.rebuild(owned, list(booths.values()), list(booth_directives.values()))


@app.timer(settings.publish_interval_s)
async def publish_partials() -> None:
    # Not while stopping: this worker may already have left the group, and a partial sent now
    # could land after the new owner's. The new owner recounts from the changelog instead.
    if view_reader.ready.is_set() and not app.should_stop:
        await guarded(stream.publish_partials())


@app.timer(settings.coverage_interval_s)
async def say_coverage() -> None:
    if view_reader.ready.is_set():
        await guarded(stream.emit_coverage(app.is_leader()))


@app.timer(5.0)
async def refresh_gauges() -> None:
    if view_reader.ready.is_set():
        await guarded(stream.refresh_gauges())


async def guarded(work) -> None:
    # A timer that raises stops for good; log and try again next tick instead.
    try:
        await work
    except Exception as exc:
        log.warning(
            "periodic work failed; retrying next tick",
            fields={"error_class": type(exc).__name__, "error": str(exc)[:300]},
        )
