"""The Faust wiring of reports and WhatsApp groups: topics, tables, agents, timers and rebalance
hooks.

The same guarantees as coverage's (analytics/coverage/agents.py): agents run with concurrency 1,
a record is committed only once its table rows are on the broker, and a replay finds its effect
in the rows already. Report records are taken in batches (take_events: acknowledged once the
batch is handled, so a rebalance waits for it); a batch spans partitions, so each row is written
to the changelog partition of its own booth's records (adapters/tables.py), not Faust's current
event's. Both topics are booth-keyed, twelve partitions, co-partitioned with their
tables and with the partials topic.
"""

from __future__ import annotations

from analytics.adapters.tables import PartitionedRows
from analytics.app import app, settings
from analytics.coverage.agents import (
    guarded,
    recovery_watch,
    reports_stream,
    start_view_reader,
    view_reader,
)
from analytics.reports.models import GroupsRow, ReportRow
from shared.topics import REPORT_SUBMISSIONS, WHATSAPP_GROUPS

stream = reports_stream
RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
BOOTH_KEYED = (settings.report_submissions_topic, settings.whatsapp_groups_topic)

submissions_topic = app.topic(settings.report_submissions_topic, **RAW)
groups_topic = app.topic(settings.whatsapp_groups_topic, **RAW)

# One booth's part in one dispatch per row ("dispatch|booth"), written to the changelog
# partition of the booth-keyed record that changed it.
reports = app.Table(
    "report-booths",
    key_type=str,
    value_type=ReportRow,
    partitions=REPORT_SUBMISSIONS.partitions,
)
# A booth's WhatsApp groups and broadcast lists, by booth id.
groups = app.Table(
    "whatsapp-booths", key_type=str, value_type=GroupsRow, partitions=WHATSAPP_GROUPS.partitions
)


@app.agent(submissions_topic, concurrency=1)
async def count_reports(records):
    rows = PartitionedRows(reports)
    batches = records.take_events(settings.reports_batch_max, within=settings.reports_batch_s)
    async for batch in batches:
        await stream.on_reports([event.message for event in batch], rows)


@app.agent(groups_topic, concurrency=1)
async def count_groups(records):
    async for record in records.events():
        await stream.on_group(record.message, groups)


def _owned(partitions) -> set[int]:
    return {tp.partition for tp in partitions if tp.topic in BOOTH_KEYED}


@app.on_partitions_revoked.connect
async def on_reports_revoked(sender, revoked, **kwargs) -> None:
    await stream.on_revoked(_owned(revoked))


@app.on_rebalance_complete.connect
async def on_reports_rebalanced(sender, **kwargs) -> None:
    # Tables are recovered and streams not resumed yet. Hooks run one after the other in no set
    # order, so the view reader is started here too (once, whichever hook comes first).
    start_view_reader()
    with recovery_watch.held():
        await view_reader.ready.wait()
        owned = _owned(app.assignor.assigned_actives())
        await stream.rebuild(owned, list(reports.values()), list(groups.values()))


@app.timer(settings.publish_interval_s)
async def publish_reports() -> None:
    # Not while stopping: the new owner of a partition recounts it from the changelog instead.
    if view_reader.ready.is_set() and not app.should_stop:
        await guarded(stream.publish_partials())


@app.timer(5.0)
async def refresh_report_gauges() -> None:
    if view_reader.ready.is_set():
        await guarded(stream.refresh_gauges())
