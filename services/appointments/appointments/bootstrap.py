"""The one place that wires the appointments service's real adapters and background loops."""

import threading
from dataclasses import dataclass, field

from pymongo.database import Database

from appointments import consumer
from appointments.adapters.live import LiveFeed
from appointments.adapters.mongo import BoothTeams, PresidentPosts
from appointments.adapters.otp_client import OtpClient
from appointments.adapters.outbox import PRODUCER_CONFIG, OutboxRelay
from appointments.handlers import Context
from appointments.settings import AppointmentsSettings
from shared.clients import mongo_client
from shared.health import Check, kafka_check, mongo_check
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventPublisher
from shared.logging import get_logger
from shared.orgtree.repository import OrgRegistry
from shared.teams.rules import rules_for
from shared.topics import OTP_RESULTS

log = get_logger(__name__)
SOURCE = "/sangathan/appointments"


@dataclass
class Adapters:
    db: Database
    org_registry: OrgRegistry
    context: Context
    otp: OtpClient
    live: LiveFeed
    checks: dict[str, Check]
    loops: list = field(default_factory=list)  # (name, run(stop)) started with the HTTP app
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for name, run in self.loops:
            thread = threading.Thread(target=_logged(name, run), args=(self.stop_event,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=15)


def bootstrap(settings: AppointmentsSettings) -> Adapters:
    mongo = mongo_client(settings)
    db = mongo[settings.mongo_db]
    registry = OrgRegistry(db)
    teams = BoothTeams(db, rules_for)
    context = Context(registry=registry, teams=teams, posts=PresidentPosts(db, teams))
    relay = OutboxRelay(teams, EventPublisher(settings.kafka_bootstrap, SOURCE, config=PRODUCER_CONFIG),
                        batch=settings.relay_batch, interval_s=settings.relay_interval_s,
                        sweep_interval_s=settings.relay_sweep_interval_s)
    otp_results = EventConsumer(settings.kafka_bootstrap, settings.consumer_group, [OTP_RESULTS],
                                lambda event: consumer.on_otp_result(context, event))
    live = LiveFeed(settings.kafka_bootstrap)
    return Adapters(
        db=db,
        org_registry=registry,
        context=context,
        otp=OtpClient(settings.otp_url, settings.own_token_file(settings.service_name), settings.otp_timeout_s),
        live=live,
        checks={
            "mongodb": mongo_check(mongo),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
        loops=[("indexes", lambda stop: _until_done(teams.ensure_indexes, stop)), ("outbox-relay", relay.run), ("otp-results", lambda stop: _then_close(otp_results, stop)), ("live-feed", live.run)],
    )


def _then_close(consumer: EventConsumer, stop: threading.Event) -> None:
    # Closing leaves the group at once, so a restarted service gets its partitions without
    # waiting out the session timeout of its old self.
    try:
        consumer.run(stop)
    finally:
        consumer.close()


def _until_done(step, stop: threading.Event) -> None:
    """Run a start-up step once MongoDB answers, without holding up the HTTP app meanwhile."""
    while not stop.is_set():
        try:
            return step()
        except Exception as exc:
            log.warning("start-up step failed; retrying", fields={"step": step.__name__, "error": type(exc).__name__})
            stop.wait(5)


def _logged(name: str, run):
    def target(stop: threading.Event) -> None:
        try:
            run(stop)
        except Exception:
            log.exception("background loop stopped", fields={"loop": name})
    return target
