"""The analytics Faust app: the one module that owns the app object.

Run it with `python -m analytics.app worker` (or `python -m analytics worker`). Health,
readiness, metrics and the coverage API are pages on Faust's own web server, so the worker
needs no second HTTP server. The streams live in `analytics.coverage`, `analytics.meetings` and
`analytics.reports` (agents, tables, views), found by Faust's autodiscovery, which names those
packages explicitly.
"""

import asyncio

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from analytics.adapters.changelog import DeliveredBeforeCommitProducer
from analytics.coverage.watchdog import PartitionStallWatch
from analytics.settings import AnalyticsSettings
from shared.clients import mongo_client
from shared.health import kafka_check, mongo_check, readiness
from shared.kafka.lag import GroupLagProbe
from shared.kafka.security import faust_credentials
from shared.logging import configure_logging
from shared.problems import MEDIA_TYPE, problem_body
from shared.topics import APPOINTMENTS, replication_factor

settings = AnalyticsSettings()
configure_logging(settings.service_name, settings.log_level)


class App(faust.App):
    def _new_producer(self) -> DeliveredBeforeCommitProducer:
        # Table rows on the broker before their events' offsets are committed
        # (adapters/changelog.py).
        return DeliveredBeforeCommitProducer(self.transport, loop=self.loop, beacon=self.beacon)


app = App(
    settings.app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    # TLS and SCRAM as every other client (shared/kafka/security.py)
    broker_credentials=faust_credentials(),
    datadir=str(settings.data_dir),
    store="memory://",  # tables come back from their changelog topics on restart
    web_bind=settings.web_bind,
    web_port=settings.web_port,
    web_host=settings.web_bind,
    # Faust's own views serve raw table rows (/table/...) and the cluster's layout (/router/) with
    # no authentication; our pages (coverage, health, metrics) are all the worker serves.
    web_tables_enabled=False,
    web_router_enabled=False,
    web_graph_enabled=False,
    web_stats_enabled=False,
    topic_partitions=APPOINTMENTS.partitions,
    topic_replication_factor=replication_factor(),
    # Standbys would be read in full again on every rebalance with the memory store: no gain.
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",  # a new group counts the whole (kept) history
    producer_linger=0.005,  # batch changelog writes: one per counted event
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=settings.session_timeout_s / 3,
    autodiscover=["analytics.coverage", "analytics.meetings", "analytics.reports"],
    origin="analytics",
)

CHECKS = {
    "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
    "mongodb": mongo_check(mongo_client(settings)),
}


# Faust's client is not librdkafka, so the group's lag is measured from its committed offsets.
# Every worker reports the whole group; dashboards take the max per partition.
LAG_PROBE = GroupLagProbe(
    settings.kafka_bootstrap,
    settings.app_id,
    [
        settings.appointments_topic,
        settings.delivery_status_topic,
        settings.directive_acks_topic,
        settings.directives_topic,
        settings.meeting_attendance_topic,
        settings.meetings_topic,
        settings.report_submissions_topic,
        settings.whatsapp_groups_topic,
    ],
)
STALL_WATCH = PartitionStallWatch(settings.partition_stall_s)


@app.timer(interval=10.0)
async def measure_consumer_lag() -> None:
    await asyncio.to_thread(LAG_PROBE.update)
    owned = {(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()}
    busy = app.rebalancing or app.tables.recovery.in_recovery
    STALL_WATCH.observe(owned, LAG_PROBE.committed, LAG_PROBE.lags, busy)


@app.page("/healthz")
async def healthz(web, request):
    if STALL_WATCH.stalled:
        stalled = ", ".join(f"{topic}:{partition}" for topic, partition in STALL_WATCH.stalled)
        body = problem_body(
            503,
            "partition-stalled",
            "A partition has stopped moving",
            f"records wait on {stalled} and nothing was committed for "
            f"{settings.partition_stall_s:.0f}s; restart this worker",
            request.path,
        )
        return web.json(body, status=503, content_type=MEDIA_TYPE)
    return web.json({"status": "ok"})


@app.page("/readyz")
async def readyz(web, request):
    status, body = await readiness(CHECKS, settings.dependency_timeout_s, request.path)
    return web.json(body, status=status, content_type=None if status == 200 else MEDIA_TYPE)


@app.page("/metrics")
async def metrics(web, request):
    # aiohttp refuses a charset inside content_type=, so the header is set as is.
    return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def main() -> None:
    # Run as `python -m analytics.app`, this file is `__main__`, a second copy of this module:
    # the agents import `analytics.app`, so the worker must run that module's app, not this one.
    import sys

    from analytics.app import app as the_app
    from shared.collector import settle_after_startup

    if sys.argv[1:2] == ["worker"]:
        _ensure_worker_topics(the_app)
        settle_after_startup()
    the_app.main()


def _ensure_worker_topics(the_app: faust.App) -> None:
    """Changelogs, partials and the leader topic exist, with every partition in the broker's
    metadata, before the worker subscribes to them (adapters/topics.py says why)."""
    from analytics.adapters.topics import WorkerTopic, ensure_worker_topics
    from analytics.coverage import agents
    from analytics.meetings import agents as _meetings  # noqa: F401  (its tables, too)
    from analytics.reports import agents as _reports  # noqa: F401  (and these)

    wanted = [
        WorkerTopic(table.changelog_topic.get_topic_name(), table.partitions)
        for table in the_app.tables.values()
    ]
    wanted.append(WorkerTopic(agents.partials_topic.get_topic_name(), APPOINTMENTS.partitions))
    # Faust's leader election topic has the same race: held with no partitions, no worker is
    # leader and no coverage-updated event goes out (seen once the meetings tables came).
    wanted.append(WorkerTopic(f"{the_app.conf.id}-__assignor-__leader", 1, compacted=False))
    ensure_worker_topics(settings.kafka_bootstrap, wanted, replication_factor())


if __name__ == "__main__":
    main()
