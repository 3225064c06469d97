"""The one place that wires the appointments service's real adapters."""

from dataclasses import dataclass

from pymongo.database import Database

from appointments.settings import AppointmentsSettings
from shared.clients import mongo_client
from shared.health import Check, kafka_check, mongo_check
from shared.orgtree.repository import OrgRegistry


@dataclass
class Adapters:
    db: Database
    org_registry: OrgRegistry
    checks: dict[str, Check]


def bootstrap(settings: AppointmentsSettings) -> Adapters:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    return Adapters(
        db=db,
        org_registry=OrgRegistry(db),
        checks={
            "mongodb": mongo_check(mongo),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
    )
