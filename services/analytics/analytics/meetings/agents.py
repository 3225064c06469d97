"""The Faust wiring of meeting attendance: topics, tables, agents, timers and rebalance hooks.

The same guarantees as coverage's (analytics/coverage/agents.py): agents run with concurrency 1,
a record is committed only once its table rows are on the broker, and a replay finds its effect
in the rows already. Attendance is booth-keyed and co-partitioned with its three tables; meetings
are meeting-keyed, with their own table on the meetings topic's six partitions. A timer drops
the attendance of meetings ended ANALYTICS_MEETING_KEEP_HOURS ago (analytics.meetings.retention).
"""

from __future__ import annotations

from analytics.adapters.tables import PartitionedRows
from analytics.app import app, settings
from analytics.coverage.agents import (
    guarded,
    meetings_stream,
    recovery_watch,
    start_view_reader,
    view_reader,
)
from analytics.meetings.models import AttendanceRow, SettledRow, WorkerRow
from shared.topics import MEETING_ATTENDANCE, MEETINGS

stream = meetings_stream
RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}

attendance_topic = app.topic(settings.meeting_attendance_topic, **RAW)
meetings_topic = app.topic(settings.meetings_topic, **RAW)

# One invitee of one meeting per row ("meeting|participant"), written to the changelog partition
# of the booth-keyed record that changed it.
attendance = app.Table(
    "meeting-attendance",
    key_type=str,
    value_type=AttendanceRow,
    partitions=MEETING_ATTENDANCE.partitions,
)
# An appointee's first join of any meeting, by participant (appointment) id: workers reached.
workers = app.Table(
    "meeting-workers", key_type=str, value_type=WorkerRow, partitions=MEETING_ATTENDANCE.partitions
)
# Dropped meetings' counts per (unit, partition), written when their rows are deleted.
settled = app.Table(
    "meeting-settled",
    key_type=str,
    value_type=SettledRow,
    partitions=MEETING_ATTENDANCE.partitions,
)
# Each meeting's life folded (kind, organiser, title, state), by meeting id.
meetings = app.Table("meetings", key_type=str, partitions=MEETINGS.partitions)  # JSON dicts


@app.agent(attendance_topic, concurrency=1)
async def count_attendance(records):
    async for record in records.events():
        await stream.on_attendance(record.message, attendance, workers)


@app.agent(meetings_topic, concurrency=1)
async def follow_meetings(records):
    async for record in records.events():
        await stream.on_meeting(record.message, meetings)


def _owned(partitions) -> set[int]:
    return {tp.partition for tp in partitions if tp.topic == settings.meeting_attendance_topic}


@app.on_partitions_revoked.connect
async def on_attendance_revoked(sender, revoked, **kwargs) -> None:
    await stream.on_revoked(_owned(revoked))


@app.on_rebalance_complete.connect
async def on_attendance_rebalanced(sender, **kwargs) -> None:
    # Tables are recovered and streams not resumed yet. Hooks run one after the other in no set
    # order, so the view reader is started here too (once, whichever hook comes first).
    start_view_reader()
    with recovery_watch.held():
        await view_reader.ready.wait()
        owned = _owned(app.assignor.assigned_actives())
        await stream.rebuild(
            owned, list(attendance.values()), list(workers.values()), list(settled.values())
        )


@app.timer(settings.publish_interval_s)
async def publish_attendance() -> None:
    # Not while stopping: the new owner of a partition recounts it from the changelog instead.
    if view_reader.ready.is_set() and not app.should_stop:
        await guarded(stream.publish_partials())


@app.timer(settings.meeting_drop_interval_s)
async def drop_ended_meetings() -> None:
    # Not while partitions move: rows are deleted only by their partition's settled owner.
    if view_reader.ready.is_set() and not (app.should_stop or app.rebalancing):
        await guarded(_drop_ended())


async def _drop_ended() -> None:
    owned = _owned(app.assignor.assigned_actives())
    if stream.drop_ended(owned, PartitionedRows(attendance), PartitionedRows(settled)):
        await stream.publish_partials(owned)


@app.timer(5.0)
async def refresh_meeting_gauges() -> None:
    if view_reader.ready.is_set():
        await guarded(stream.refresh_gauges())
