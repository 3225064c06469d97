"""The one place that wires the notifier's real adapters. Tests pass their own recipient source
(the appointments service stand-in) or turn the background workers off; the rest stays as in
production."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from pymongo.database import Database

from notifier import consumer
from notifier.adapters.channels import channels
from notifier.adapters.events import NotifierEvents, publisher
from notifier.adapters.inbound import HttpInbound
from notifier.adapters.keys import ack_key, optout_index, webhook_key
from notifier.adapters.lanes import LANE_TOPICS, TaskConsumer, TaskProducer
from notifier.adapters.ledger import Ledger
from notifier.adapters.store import DirectiveStore
from notifier.adapters.tally import Tally
from notifier.domain.acks import AckLinks
from notifier.fanout import FanOut
from notifier.followups import FollowUps
from notifier.handlers.directives import relay_outbox
from notifier.handlers.mover import move_due_tasks
from notifier.handlers.ports import Ports
from notifier.lane_workers import Lane, LaneWorkers
from notifier.sending import DirectiveCache
from notifier.settings import NotifierSettings
from shared import topics
from shared.background import BackgroundJobs, consuming, periodic
from shared.clients import mongo_client, redis_client
from shared.health import Check, kafka_check, mongo_check, redis_check
from shared.kafka.consumer import EventConsumer
from shared.kafka.deadletters import dead_letter_seal
from shared.kafka.producer import ConfirmedProducer
from shared.kafka.security import client_config
from shared.orgtree.repository import OrgRegistry
from shared.recipients import HttpRecipients, RecipientSource
from shared.sending.policy import SendingPolicy, parse_polls, parse_quiet_hours

NOTIFIER_TOPICS = (
    topics.DIRECTIVES,
    topics.DELIVERY_STATUS,
    topics.DIRECTIVE_ACKS,
    *LANE_TOPICS.values(),
    topics.DEAD_LETTER,
    topics.ERASURES,
)


@dataclass
class Adapters(BackgroundJobs):
    settings: NotifierSettings
    db: Database
    redis: redis.Redis
    org_registry: OrgRegistry
    ports: Ports
    webhook_key: bytes
    ack_key: bytes
    policy: SendingPolicy
    checks: dict[str, Check]

    def stop(self) -> None:
        super().stop()
        self.ports.events.close()
        self.ports.producer.close()


def prepare_sending(settings: NotifierSettings, ports: Ports) -> None:
    """Before any worker runs: the topics exist, and Redis knows every opt-out MongoDB holds (it
    may have restarted empty)."""
    ensure_topics(settings)
    ports.ledger.restore_optouts(ports.store.optout_keys())


def bootstrap(
    settings: NotifierSettings,
    *,
    recipients: RecipientSource | None = None,
    run_workers: bool | None = None,
) -> Adapters:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per provider call is too many
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    client = redis_client(settings)
    store = DirectiveStore(db, settings.collection_prefix)
    hooks, acks = webhook_key(settings), ack_key(settings)
    ledger = Ledger(
        client, prefix=settings.redis_prefix, phone_key=acks, optouts=optout_index(settings)
    )
    tally = Tally(client, prefix=settings.redis_prefix)
    registry = OrgRegistry(db)
    quiet_start, quiet_end = parse_quiet_hours(settings.quiet_hours)
    policy = SendingPolicy(
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        polls=parse_polls(settings.polls),
        max_attempts=settings.max_attempts,
        backoff_base_s=settings.backoff_base_s,
        backoff_cap_s=settings.backoff_cap_s,
        whatsapp_daily_cap=settings.whatsapp_daily_unique_cap,
    )
    publish = lambda: NotifierEvents(publisher(settings.kafka_bootstrap, settings.topic))  # noqa: E731
    produce = lambda: TaskProducer(settings.kafka_bootstrap, settings.topic)  # noqa: E731
    ports = Ports(
        store=store,
        ledger=ledger,
        tally=tally,
        events=publish(),
        producer=produce(),
        registry=registry,
        policy=policy,
        channels=channels(settings),
        texts=DirectiveCache(store.get),
        links=AckLinks(acks, settings.public_url.rstrip("/")),
        inbound=HttpInbound(
            settings.recipients_url,
            settings.reports_url,
            settings.token_file,
            settings.inbound_timeout_s,
        ),
    )
    adapters = Adapters(
        settings=settings,
        db=db,
        redis=client,
        org_registry=registry,
        ports=ports,
        webhook_key=hooks,
        ack_key=acks,
        policy=policy,
        prepare=lambda: prepare_sending(settings, ports),
        checks={
            "mongodb": mongo_check(mongo),
            "redis": redis_check(client),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
    )
    if settings.run_workers if run_workers is None else run_workers:
        recipients = recipients or HttpRecipients(
            settings.recipients_url, settings.token_file, settings.recipients_timeout_s
        )
        adapters.background = workers(settings, ports, recipients, publish, produce)
    return adapters


def workers(
    settings: NotifierSettings, ports: Ports, recipients: RecipientSource, publish, produce
) -> list:
    group = lambda name: f"{settings.topic_namespace}{name}"  # noqa: E731
    concurrency = {
        "urgent": settings.urgent_concurrency,
        "normal": settings.normal_concurrency,
        "bulk": settings.bulk_concurrency,
    }

    def lane_consumer(lane: str):
        return lambda: TaskConsumer(
            settings.kafka_bootstrap,
            settings.topic(LANE_TOPICS[lane].name),
            group(f"notifier-{lane}"),
        )

    lanes = [
        Lane(name, lane_consumer(name), produce(), publish(), concurrency[name])
        for name in LANE_TOPICS
        if name in settings.lanes
    ]
    dead_topic = settings.topic(topics.DEAD_LETTER.name)
    mover = produce()
    fanout = FanOut(
        store=ports.store,
        ledger=ports.ledger,
        tally=ports.tally,
        recipients=recipients,
        registry=ports.registry,
        producer=produce(),
        policy=ports.policy,
        batch=settings.fanout_batch,
    )
    follow_ups = FollowUps(
        store=ports.store,
        tally=ports.tally,
        recipients=recipients,
        chunks=fanout.chunks,
        producer=produce(),
        remind_after_s=settings.remind_after_s,
        escalate_after_s=settings.escalate_after_s,
    )

    def event_consumer(name: str, topic_list, handler, batch_size: int = 100):
        return lambda: EventConsumer(
            settings.kafka_bootstrap,
            group(name),
            [settings.topic(topic.name) for topic in topic_list],
            handler,
            dead_letter_topic=dead_topic,
            batch_size=batch_size,
        )

    return [
        consuming(
            "notifier-scheduler",
            event_consumer(
                consumer.SCHEDULER_GROUP, [topics.DIRECTIVES], consumer.issued_handler(ports)
            ),
        ),
        consuming(
            "notifier-erasures",
            event_consumer(
                consumer.ERASURE_GROUP, [topics.ERASURES], consumer.erasure_handler(ports)
            ),
        ),
        periodic("notifier-outbox", lambda: relay_outbox(ports), 2.0),
        periodic("notifier-fanout", fanout.run_due, 0.25),
        periodic("notifier-mover", lambda: move_due_tasks(ports, mover), 0.25),
        periodic("notifier-follow-ups", follow_ups.run_once, settings.follow_up_interval_s),
    ] + (
        [
            LaneWorkers(
                lanes,
                ports,
                ConfirmedProducer(settings.kafka_bootstrap),
                dead_topic,
                seal=dead_letter_seal(settings),
                batch=settings.lane_batch,
                provider_url=settings.provider_url,
                provider_timeout_s=settings.provider_timeout_s,
                provider_batch=settings.provider_batch,
                provider_linger_s=settings.provider_linger_ms / 1000,
            ).background
        ]
        if lanes
        else []
    )


def ensure_topics(settings: NotifierSettings) -> None:
    """The registry's topics on the platform; under a namespace (tests) small copies of ours."""
    if not settings.topic_namespace:
        topics.ensure_topics(settings.kafka_bootstrap)
        return
    admin = AdminClient(client_config(settings.kafka_bootstrap))
    existing = admin.list_topics(timeout=10).topics
    wanted = [
        NewTopic(
            settings.topic(topic.name),
            num_partitions=min(topic.partitions, 3),
            replication_factor=1,
        )
        for topic in NOTIFIER_TOPICS
        if settings.topic(topic.name) not in existing
    ]
    for future in admin.create_topics(wanted, operation_timeout=30).values() if wanted else ():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
