"""The one place that wires the OTP service's real adapters. Tests pass their own Redis client,
publisher or delivery channel, and everything else stays as in production."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import redis

from otp.adapters import events as otp_events
from otp.adapters.delivery import RedisStreamSink
from otp.adapters.keys import hmac_key
from otp.adapters.notifier_delivery import notifier_channel
from otp.adapters.store import RedisCodeStore
from otp.consumer import GROUP_ID, RESTART_PAUSE_S, event_handler
from otp.domain import Policy
from otp.handlers import Ports
from otp.ports import DeliveryChannel
from otp.settings import OtpSettings
from shared import topics
from shared.background import BackgroundJobs, consuming
from shared.clients import redis_client
from shared.health import Check, kafka_check, redis_check
from shared.kafka.consumer import EventConsumer

# Retries of one request while Redis or Kafka is away (backoff 0.5 s doubling to 10 s: about a
# minute and a half) before it is dead-lettered; codes cannot go out meanwhile anyway.
HANDLER_ATTEMPTS = 12


@dataclass
class Adapters(BackgroundJobs):
    settings: OtpSettings
    redis: redis.Redis
    ports: Ports
    sink: RedisStreamSink | None  # the local delivery sink, when it is the channel
    checks: dict[str, Check]
    stopping: threading.Event  # cuts short a delivery's wait to try again

    def stop(self) -> None:
        self.stopping.set()
        super().stop()
        self.ports.events.close()


def bootstrap(
    settings: OtpSettings,
    *,
    client: redis.Redis | None = None,
    publisher: otp_events.ConfirmingPublisher | None = None,
    delivery: DeliveryChannel | None = None,
    consume: bool = True,
) -> Adapters:
    client = client or redis_client(settings)
    sink = None
    if delivery is None and settings.delivery == "notifier":
        delivery, sink = notifier_channel(settings, client)
    if delivery is None:
        if settings.environment != "development":
            raise RuntimeError(
                "OTP_DELIVERY=dev-sink keeps codes readable in Redis: development only; "
                "production needs a real channel"
            )
        sink = delivery = RedisStreamSink(
            client,
            key=f"{settings.redis_prefix}dev-sink",
            maxlen=settings.dev_sink_maxlen,
            ttl_s=settings.dev_sink_ttl_s,
            prefixes=settings.allowed_prefixes,
        )
    if publisher is None:
        topic = settings.results_topic
        publisher = otp_events.publisher(
            settings.kafka_bootstrap,
            settings.publish_timeout_s,
            topic_for=(lambda _: topic) if topic else None,
        )
    stopping = threading.Event()
    ports = Ports(
        policy=Policy.from_settings(settings),
        key=hmac_key(settings),
        store=RedisCodeStore(
            client, prefix=settings.redis_prefix, send_window_s=settings.send_window_s
        ),
        delivery=delivery,
        events=otp_events.OtpEvents(publisher),
        clock=time.time,
        randbelow=secrets.randbelow,
        wait=stopping.wait,
    )

    def make_consumer() -> EventConsumer:
        # A delivery may be tried again for as long as its code lives: the group must not think the
        # consumer dead meanwhile (librdkafka's default allows 5 minutes between polls).
        poll_interval_ms = (settings.code_ttl_s + 120) * 1000
        return EventConsumer(
            settings.kafka_bootstrap,
            GROUP_ID,
            [topics.OTP_REQUESTS],
            event_handler(ports),
            max_attempts=HANDLER_ATTEMPTS,
            config={"max.poll.interval.ms": poll_interval_ms},
        )

    return Adapters(
        settings=settings,
        redis=client,
        ports=ports,
        sink=sink,
        checks={
            "redis": redis_check(client),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
        stopping=stopping,
        # No consumer: this process sends no codes (tests of the HTTP side).
        background=[consuming("otp-consumer", make_consumer, RESTART_PAUSE_S)]
        if consume and settings.consume
        else [],
    )
