"""The one place that wires the reports service's real adapters and background jobs. Tests pass
their own database or publisher (scratch topics); everything else stays as in production."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml
from pymongo.database import Database

from reports import consumer, handlers
from reports.adapters.directives import NotifierDirectives
from reports.adapters.erasures import SubmitterReports
from reports.adapters.export import ExportSource
from reports.adapters.fanout import FANOUT_CONFIG, FanOut
from reports.adapters.followups import FollowUps, follow_ups
from reports.adapters.groups import GroupStore
from reports.adapters.link_holders import EndedAppointmentStore
from reports.adapters.links import answer_links, link_sender
from reports.adapters.mongo import BoothReports, Forms, OutboxPointers, Plans, Rounds
from reports.adapters.outbox import OutboxRelay
from reports.adapters.units import BatchedUnits
from reports.answer_links import AnswerLinks
from reports.group_handlers import GroupPorts
from reports.handlers import Ports
from reports.link_sending import LinkSender, Messages
from reports.settings import ReportsSettings
from shared import topics
from shared.background import Background, BackgroundJobs, consuming, periodic
from shared.batching import Batcher
from shared.clients import mongo_client
from shared.health import Check, kafka_check, mongo_check
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import ConfirmedProducer, EventPublisher
from shared.logging import get_logger
from shared.orgtree.repository import OrgRegistry
from shared.outbox import PRODUCER_CONFIG
from shared.recipients import HttpRecipients, RecipientSource

SOURCE = "/sangathan/reports"
log = get_logger(__name__)


@dataclass
class Adapters(BackgroundJobs):
    settings: ReportsSettings
    db: Database
    ports: Ports
    rounds: Rounds
    relay: OutboxRelay
    fanout: FanOut
    followups: FollowUps
    directives: NotifierDirectives
    checks: dict[str, Check]
    links: AnswerLinks
    link_sender: LinkSender
    groups: GroupPorts
    export: ExportSource
    holders: EndedAppointmentStore  # appointments that ended: their answer links are refused


def bootstrap(
    settings: ReportsSettings,
    *,
    db: Database | None = None,
    registry: OrgRegistry | None = None,
    topic_for: Callable[[str], str] | None = None,
    recipients: RecipientSource | None = None,
    messages: Messages | None = None,
) -> Adapters:
    mongo = mongo_client(settings)
    db = db if db is not None else mongo[settings.mongo_db]
    registry = registry or OrgRegistry(mongo[settings.mongo_db])
    pointers = OutboxPointers(db)
    rounds = Rounds(db)
    reports = BoothReports(db, pointers)
    ports = Ports(
        forms=Forms(db, pointers),
        plans=Plans(db),
        rounds=rounds,
        reports=reports,
        units=BatchedUnits(registry),
        min_due_after=timedelta(seconds=settings.min_due_after_s),
    )
    reports.first_inserts = batcher(settings, "booth-reports", reports.insert_first)
    ports.units.listed = batcher(settings, "booths", ports.units.listed_among)
    publisher = EventPublisher(
        settings.kafka_bootstrap, SOURCE, config=PRODUCER_CONFIG, topic_for=topic_for
    )
    relay = OutboxRelay(
        db,
        pointers,
        publisher,
        batch=settings.relay_batch,
        interval_s=settings.relay_interval_s,
        unwritten_after_s=settings.relay_unwritten_after_s,
        written=reports.written,
    )
    fanout = FanOut(
        rounds,
        registry,
        ConfirmedProducer(settings.kafka_bootstrap, {**PRODUCER_CONFIG, **FANOUT_CONFIG}),
        SOURCE,
        topic_for=topic_for,
        pages_per_flush=settings.fanout_pages_per_flush,
    )
    # One client of appointments' recipients stream for the answer links and the follow-ups.
    recipients = recipients or HttpRecipients(
        settings.recipients_url, settings.token_file, settings.recipients_timeout_s
    )
    followups = follow_ups(settings, ports.forms, ports.units, db, recipients)

    links = answer_links(settings)
    sender = link_sender(
        settings,
        db,
        ports.forms,
        links,
        recipients=recipients,
        registry=registry,
        messages=messages,
    )
    holders = EndedAppointmentStore(db)
    holders.lookups = batcher(settings, "holders", holders.ended_among)
    grace = timedelta(hours=settings.link_grace_h)

    def prepare() -> None:
        if topic_for is None:
            topics.ensure_topics(settings.kafka_bootstrap)
        rounds.ensure_indexes()
        holders.ensure_indexes()
        load_builtin_forms(ports, settings.builtin_forms_dir)

    return Adapters(
        settings=settings,
        db=db,
        ports=ports,
        rounds=rounds,
        relay=relay,
        fanout=fanout,
        followups=followups,
        directives=NotifierDirectives(settings.notifier_url, settings.notifier_timeout_s),
        export=ExportSource(db, rounds, ports.forms, ports.reports, registry),
        groups=GroupPorts(GroupStore(db, pointers, settings.personal_data_cipher()), registry),
        checks={
            "mongodb": mongo_check(mongo),
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
        },
        links=links,
        link_sender=sender,
        holders=holders,
        prepare=prepare,
        background=[
            Background("outbox-relay", relay.run),
            Background("fan-out", fanout.run),
            Background("answer-links", sender.run),
            periodic(
                "rounds", lambda: handlers.open_due_rounds(ports), settings.schedule_interval_s
            ),
            periodic("follow-ups", followups.once, settings.followups_interval_s),
            consuming(
                "reports-erasures",
                lambda: EventConsumer(
                    settings.kafka_bootstrap,
                    consumer.GROUP,
                    [topics.ERASURES],
                    consumer.erasures(SubmitterReports(db, pointers)),
                ),
                consumer.RESTART_PAUSE_S,
            ),
            # From appointments' own events: whose answer links stop (reports/link_holders.py).
            consuming(
                consumer.HOLDERS_GROUP,
                lambda: EventConsumer(
                    settings.kafka_bootstrap,
                    consumer.HOLDERS_GROUP,
                    [topics.APPOINTMENTS, topics.ERASURES],
                    consumer.link_holders(holders, grace, ports.clock),
                ),
                consumer.RESTART_PAUSE_S,
            ),
            periodic(
                "ended-appointments-purge",
                lambda: holders.purge(ports.clock()),
                settings.holders_purge_interval_s,
            ),
        ],
    )


def batcher(settings: ReportsSettings, name: str, run) -> Batcher:
    """A group commit (adapters/batching.py) with the service's settings."""
    return Batcher(
        name,
        run,
        size=settings.ingest_batch,
        linger_s=settings.ingest_linger_s,
        wait_s=settings.ingest_wait_s,
    )


def load_builtin_forms(ports: Ports, directory: Path) -> None:
    """Publish each built-in form (a new version where its file changed)."""
    for path in sorted(directory.glob("*.yaml")):
        form = yaml.safe_load(path.read_text(encoding="utf-8"))
        version = handlers.load_builtin(ports, form)
        log.info(
            "built-in form ready",
            fields={"form": path.stem, "form_id": form["form_id"], "version": version.number},
        )
