"""The one place that wires the OTP service's real adapters."""

from dataclasses import dataclass

import redis

from otp.settings import OtpSettings
from shared.clients import redis_client
from shared.health import Check, kafka_check, redis_check


@dataclass
class Adapters:
    redis: redis.Redis
    checks: dict[str, Check]


def bootstrap(settings: OtpSettings) -> Adapters:
    client = redis_client(settings)
    return Adapters(
        redis=client,
        checks={
            "redis": redis_check(client),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
    )
