"""The one place that wires the appointments service's real adapters and background loops."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import chain

from pymongo.database import Database

from appointments import consumer, handlers
from appointments.adapters.erasures import ErasureLog
from appointments.adapters.limits import AppointmentLimits
from appointments.adapters.live import LiveFeed
from appointments.adapters.mongo import BoothTeams, PresidentPosts
from appointments.adapters.offices import UnitOffices
from appointments.adapters.otp_client import OtpClient
from appointments.adapters.outbox import OutboxRelay
from appointments.adapters.personal import personal_data
from appointments.adapters.recipients import RecipientDirectory
from appointments.handlers import Ports
from appointments.settings import AppointmentsSettings
from shared import topics
from shared.background import Background, BackgroundJobs, consuming
from shared.clients import mongo_client, redis_client
from shared.health import Check, kafka_check, mongo_check
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventPublisher
from shared.orgtree.repository import OrgRegistry
from shared.outbox import PRODUCER_CONFIG
from shared.teams.offices import audience_roles
from shared.teams.rules import rules_for
from shared.topics import OTP_RESULTS

SOURCE = "/sangathan/appointments"


@dataclass
class Adapters(BackgroundJobs):
    settings: AppointmentsSettings
    db: Database
    org_registry: OrgRegistry
    ports: Ports
    recipients: RecipientDirectory
    otp: OtpClient
    live: LiveFeed
    limits: AppointmentLimits
    checks: dict[str, Check]

    def stop(self) -> None:
        super().stop()
        self.otp.close()


def bootstrap(settings: AppointmentsSettings) -> Adapters:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    registry = OrgRegistry(db)
    personal = personal_data(settings)
    teams = BoothTeams(db, rules_for, personal)
    offices = UnitOffices(db, rules_for, personal)
    otp = OtpClient(
        settings.otp_url, settings.own_token_file(settings.service_name), settings.otp_timeout_s
    )
    # Not a readiness check: without Redis only the budgeted calls (appoint, verify, resend,
    # import) answer 503; reading goes on.
    limits = AppointmentLimits(redis_client(settings), settings)
    ports = Ports(
        registry=registry,
        teams=teams,
        posts=PresidentPosts(db, teams),
        erasures=ErasureLog(db),
        otp=otp,
        limits=limits,
        verification_wait_s=settings.verification_wait_s,
        offices=offices,
    )
    recipients = RecipientDirectory(db, registry, audience_roles, personal)

    def namespaced(event_type: str) -> str:
        return settings.topic_namespace + topics.topic_for(event_type).name

    def publisher() -> EventPublisher:
        return EventPublisher(
            settings.kafka_bootstrap,
            SOURCE,
            config=PRODUCER_CONFIG,
            topic_for=namespaced if settings.topic_namespace else None,
        )

    # A publisher each: its flush confirms (or reports lost) everything produced through it, so
    # two relays sharing one would mark each other's unconfirmed events as sent.
    relays = [
        OutboxRelay(
            store,
            recipients,
            publisher(),
            name=name,
            batch=settings.relay_batch,
            interval_s=settings.relay_interval_s,
            sweep_interval_s=settings.relay_sweep_interval_s,
        )
        for name, store in (("booth_teams", teams), ("unit_offices", offices))
    ]

    def otp_results() -> EventConsumer:
        return EventConsumer(
            settings.kafka_bootstrap,
            settings.consumer_group,
            [OTP_RESULTS],
            lambda event: consumer.on_otp_result(ports, event),
        )

    live = LiveFeed(settings.kafka_bootstrap)
    return Adapters(
        settings=settings,
        db=db,
        org_registry=registry,
        ports=ports,
        recipients=recipients,
        otp=otp,
        live=live,
        limits=limits,
        checks={
            "mongodb": mongo_check(mongo),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
        background=[
            Background(
                "indexes",
                lambda stop: _once(lambda: [s.ensure_indexes() for s in (teams, offices)], stop),
                restart_pause_s=5,
            ),
            Background(
                "seal-plaintext",
                lambda stop: _once(lambda: _seal_once(db, ports.posts, teams), stop),
                restart_pause_s=5,
            ),
            Background(
                "recipients-backfill",
                lambda stop: _once(
                    lambda: recipients.backfill(chain(teams.every(), offices.every())), stop
                ),
                restart_pause_s=5,
            ),
            Background("outbox-relay", relays[0].run),
            Background("offices-outbox-relay", relays[1].run),
            consuming("otp-results", otp_results),
            Background("live-feed", live.run),
            Background(
                "retention",
                lambda stop: _every(
                    settings.retention_interval_s,
                    stop,
                    lambda: handlers.retain(ports, keep=timedelta(days=settings.retention_days)),
                ),
                restart_pause_s=60,
            ),
        ],
    )


def _seal_once(db: Database, posts: PresidentPosts, teams: BoothTeams) -> None:
    """Seal what was written before encryption, once per database: both steps scan their whole
    collection (a million booth teams nationally), and every write since seals as it saves."""
    if db.personal_data_meta.find_one({"_id": "sealed"}) is not None:
        return
    posts.rekey_plaintext()
    teams.seal_plaintext()
    db.personal_data_meta.replace_one(
        {"_id": "sealed"}, {"_id": "sealed", "at": datetime.now(timezone.utc)}, upsert=True
    )


def _every(interval_s: float, stop, step) -> None:
    """A periodic job: one step per interval until stopped (Background restarts it if it fails)."""
    while not stop.wait(interval_s):
        step()


def _once(step, stop) -> None:
    """A start-up step, retried (by Background) until MongoDB answers; the HTTP app is not held
    up."""
    step()
    stop.wait()
