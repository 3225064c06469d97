"""The one place that wires the appointments service's real adapters."""

from dataclasses import dataclass

from pymongo import MongoClient
from pymongo.database import Database

from appointments.settings import AppointmentsSettings
from shared.health import Check, kafka_check, mongo_check
from shared.orgtree.repository import OrgRegistry


@dataclass
class Adapters:
    db: Database
    org_registry: OrgRegistry
    checks: dict[str, Check]


def bootstrap(settings: AppointmentsSettings) -> Adapters:
    timeout_ms = int(settings.dependency_timeout_s * 1000)
    mongo = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=timeout_ms,
                        connectTimeoutMS=timeout_ms)
    db = mongo[settings.mongo_db]
    return Adapters(
        db=db,
        org_registry=OrgRegistry(db),
        checks={
            "mongodb": mongo_check(mongo),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
    )
