"""The one place that wires the meetings service's real adapters. Tests pass their own
recipients or messages client, and everything else stays as in production."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from pymongo import MongoClient

from meetings import consumer
from meetings.adapters.conference import HttpConferenceProvider
from meetings.adapters.keys import link_key, phone_cipher, webhook_key
from meetings.adapters.live import MongoLive
from meetings.adapters.messages import NotifierMessages
from meetings.adapters.store import MongoInvitees, MongoMeetings
from meetings.conference import Pacing, Redial
from meetings.handlers import Ports, relay_outbox, run_due
from meetings.links import JoinLinks
from meetings.live import (
    PUBLISH_TIMEOUT_S,
    LivePorts,
    dial_due,
    end_due,
    publish_together,
    start_due,
    write_counts,
)
from meetings.ports import Messages
from meetings.settings import MeetingsSettings
from shared import topics
from shared.background import BackgroundJobs, consuming, periodic
from shared.batching import Batcher
from shared.clients import mongo_client
from shared.health import Check, kafka_check, mongo_check
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventPublisher
from shared.orgtree.repository import OrgRegistry
from shared.recipients import HttpRecipients, RecipientSource
from shared.sending.policy import SendingPolicy, parse_polls, parse_quiet_hours
from shared.sending.signatures import caller_hash

# The relay's producer gives up on a message before the flush does, so a Kafka outage never
# piles copies of the same events into the client's queue.
# No compression: the analytics worker (aiokafka) cannot read lz4 (shared/kafka/producer.py).
PRODUCER_CONFIG = {"message.timeout.ms": 8000, "linger.ms": 20}
SOURCE = "/sangathan/meetings"
JOBS_INTERVAL_S = 0.5
RELAY_INTERVAL_S = 2.0
COUNTS_INTERVAL_S = 0.5  # attendance counters written from the pod's tally (adapters/live.py)


@dataclass
class Adapters(BackgroundJobs):
    settings: MeetingsSettings
    mongo: MongoClient
    ports: Ports
    checks: dict[str, Check]
    live: LivePorts
    webhook_events: EventPublisher | None = None  # the webhooks' own producer (group_webhooks)

    def stop(self) -> None:
        super().stop()
        try:
            self.live.live.flush_counts()  # what the tally holds is not left to the end's recount
            self.live.live.flush_published()  # nor published events to be sent again
        finally:
            try:
                self.ports.events.close(5.0)
            finally:
                if self.webhook_events is not None:
                    self.webhook_events.close(5.0)


def bootstrap(
    settings: MeetingsSettings,
    *,
    recipients: RecipientSource | None = None,
    messages: Messages | None = None,
    publisher: EventPublisher | None = None,
    jobs: bool = True,
) -> Adapters:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per call is noise
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    cipher = phone_cipher(settings)
    quiet_start, quiet_end = parse_quiet_hours(settings.quiet_hours)
    ports = Ports(
        meetings=MongoMeetings(db, settings.collection_prefix, cipher),
        invitees=MongoInvitees(db, settings.collection_prefix, cipher),
        events=publisher
        or EventPublisher(settings.kafka_bootstrap, SOURCE, config=PRODUCER_CONFIG),
        recipients=recipients
        or HttpRecipients(
            settings.recipients_url, settings.token_file, settings.recipients_timeout_s
        ),
        messages=messages
        or NotifierMessages(
            settings.notifier_url, settings.token_file, settings.notifier_timeout_s
        ),
        registry=OrgRegistry(db),
        policy=SendingPolicy(
            quiet_start=quiet_start, quiet_end=quiet_end, polls=parse_polls(settings.polls)
        ),
        links=JoinLinks(link_key(settings), settings.public_url),
        dial_in=settings.dial_in_number,
        lane=settings.invitation_lane,
        reminder_before=timedelta(minutes=settings.reminder_before_minutes),
        batch=settings.batch,
        invite_ahead=settings.invite_ahead,
    )
    live = live_ports(settings, ports, MongoLive(db, settings.collection_prefix, cipher))
    # The webhooks' events on a producer of their own, flushed by their group commit alone
    # (meetings.live.publish_together); a test's publisher is used as it is.
    webhook_events = (
        None
        if publisher
        else EventPublisher(settings.kafka_bootstrap, SOURCE, config=PRODUCER_CONFIG)
    )
    group_webhooks(
        live,
        publisher or webhook_events,
        size=settings.webhook_batch,
        linger_s=settings.webhook_linger_s,
        wait_s=settings.webhook_wait_s,
    )
    adapters = Adapters(
        settings=settings,
        mongo=mongo,
        ports=ports,
        live=live,
        webhook_events=webhook_events,
        checks={
            "mongodb": mongo_check(mongo),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
    )
    if jobs and settings.background_jobs:
        adapters.prepare = lambda: topics.ensure_topics(settings.kafka_bootstrap)
        interval = settings.live_interval_s
        adapters.background = [
            periodic("meetings-outbox", lambda: relay_outbox(ports), RELAY_INTERVAL_S),
            periodic("meetings-jobs", lambda: run_due(ports), JOBS_INTERVAL_S),
            periodic("meetings-start", lambda: start_due(adapters.live), interval),
            *(  # a pod's diallers: the calls of every live meeting, at the shared pace
                periodic(f"meetings-dial-{n}", lambda: dial_due(adapters.live), interval)
                for n in range(settings.diallers)
            ),
            periodic("meetings-end", lambda: end_due(adapters.live), interval),
            periodic("meetings-counts", lambda: write_counts(adapters.live), COUNTS_INTERVAL_S),
            consuming(
                "meetings-erasures",
                lambda: EventConsumer(
                    settings.kafka_bootstrap,
                    consumer.GROUP,
                    [topics.ERASURES],
                    consumer.erasures(ports),
                ),
                consumer.RESTART_PAUSE_S,
            ),
        ]
    return adapters


def group_webhooks(live: LivePorts, events, *, size: int, linger_s: float, wait_s: float) -> None:
    """Concurrent webhooks share their store read, their store write and their Kafka flush
    (shared/batching.py): three group commits, each with its own thread, so while one batch's
    events are confirmed the next batch is written and the one after it read.
    A size of 1 leaves each webhook on its own."""
    if size <= 1:
        return
    live.live.invitee_reads = Batcher(
        "webhook-reads", live.live.read_invitees, size=size, linger_s=linger_s, wait_s=wait_s
    )
    live.live.attendance_writes = Batcher(
        "webhook-writes", live.live.write_attendances, size=size, linger_s=linger_s, wait_s=wait_s
    )
    live.publishing = Batcher(
        "webhook-events",
        lambda batch: publish_together(batch, events),
        size=size,
        linger_s=0,  # a batch's events wait for the flush before: no linger on top
        wait_s=wait_s + PUBLISH_TIMEOUT_S,  # the flush itself gives up after PUBLISH_TIMEOUT_S
    )


def live_ports(settings: MeetingsSettings, ports: Ports, live: MongoLive) -> LivePorts:
    """The live half: the conference provider, the live store, and the meeting's own store and
    events."""
    key = webhook_key(settings)
    api_key = settings.provider_api_key.get_secret_value() if settings.provider_api_key else None
    return LivePorts(
        provider=HttpConferenceProvider(
            settings.provider_url, api_key, key, settings.provider_timeout_s
        ),
        live=live,
        meetings=ports.meetings,
        events=ports.events,
        caller_hash=lambda phone: caller_hash(key, phone),
        callback_url=f"{settings.public_url.rstrip('/')}/v1/provider/conference-events",
        cap=settings.conference_cap,
        late_joiner_seats=settings.late_joiner_seats,
        pacing=Pacing(settings.calls_per_second, time.monotonic()),
        dial_batch=settings.dial_batch,
        max_owed=settings.max_owed,
        redial=Redial(settings.dial_attempts, settings.redial_backoff_s),
        ring_timeout_s=settings.ring_timeout_s,
        caller_id=settings.caller_id,
        policy=ports.policy,  # scheduling's and the start's are one: a change applies to both
        reconcile_threads=settings.reconcile_threads,
    )
