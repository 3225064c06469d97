"""The one place that wires the notifier's real adapters."""

from dataclasses import dataclass

import redis
from pymongo.database import Database

from notifier.settings import NotifierSettings
from shared.clients import mongo_client, redis_client
from shared.health import Check, kafka_check, mongo_check, redis_check
from shared.orgtree.repository import OrgRegistry


@dataclass
class Adapters:
    db: Database
    redis: redis.Redis
    org_registry: OrgRegistry
    checks: dict[str, Check]


def bootstrap(settings: NotifierSettings) -> Adapters:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    client = redis_client(settings)
    return Adapters(
        db=db,
        redis=client,
        org_registry=OrgRegistry(db),
        checks={
            "mongodb": mongo_check(mongo),
            "redis": redis_check(client),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
    )
