"""The one place that wires the notifier's real adapters."""

from dataclasses import dataclass

import redis
from pymongo import MongoClient
from pymongo.database import Database

from notifier.settings import NotifierSettings
from shared.health import Check, kafka_check, mongo_check, redis_check
from shared.orgtree.repository import OrgRegistry


@dataclass
class Adapters:
    db: Database
    redis: redis.Redis
    org_registry: OrgRegistry
    checks: dict[str, Check]


def bootstrap(settings: NotifierSettings) -> Adapters:
    timeout_s = settings.dependency_timeout_s
    mongo = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=int(timeout_s * 1000),
                        connectTimeoutMS=int(timeout_s * 1000))
    db = mongo[settings.mongo_db]
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=timeout_s,
                                  socket_connect_timeout=timeout_s)
    return Adapters(
        db=db,
        redis=client,
        org_registry=OrgRegistry(db),
        checks={
            "mongodb": mongo_check(mongo),
            "redis": redis_check(client),
            "kafka": kafka_check(settings.kafka_bootstrap, timeout_s),
        },
    )
