"""The one registry of Kafka topics: name, partitions, key, the event types each carries, retention.

Every producer routes through `topic_for`, and `ensure_topics` creates what is missing at
start-up, so a topic's settings live here and nowhere else.

    python -m shared.topics ensure [--bootstrap HOST:PORT]
"""

import argparse
import os
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from shared.events import types
from shared.kafka.security import client_config
from shared.logging import get_logger

log = get_logger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
FOREVER = -1


# What a topic's records are.
EVENTS = "events"  # CloudEvents of the registry's event types, shared between services
TASKS = "tasks"  # one service's own work queue: plain JSON records only that service reads
DEAD_LETTERS = "dead-letters"  # records a consumer could not use, unchanged, with dlt_* headers


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key_field: (
        str | None
    )  # the field whose value is the message key (for events also the CE subject)
    event_types: tuple[str, ...]
    description: str
    retention_ms: int | None = 7 * DAY_MS  # None: compacted, the latest value per key is kept
    segment_ms: int | None = None  # short segments let a short retention actually delete
    carries: str = EVENTS

    @property
    def cleanup_policy(self) -> str:
        return "compact" if self.retention_ms is None else "delete"

    def config(self, replication_factor: int) -> dict[str, str]:
        config = {
            "cleanup.policy": self.cleanup_policy,
            # acks=all only protects a write if more than one replica must have it.
            "min.insync.replicas": str(max(1, min(2, replication_factor - 1))),
        }
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        if self.segment_ms is not None:
            config["segment.ms"] = str(self.segment_ms)
        return config


# Booth-keyed streams get 12 partitions: a booth's events stay in order on one partition, and a
# consumer group can spread ~1 million booths over up to 12 workers.
APPOINTMENTS = Topic(
    "sangathan.appointments.v1",
    12,
    "booth_id",
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        types.BOOTH_MEMBER_APPOINTED,
        types.APPOINTMENT_VERIFIED,
        types.APPOINTMENT_REVOKED,
        types.UNIT_OFFICER_CHANGED,
    ),
    "Every appointment change, one topic so a booth's appointed/verified/revoked stay in order.",
    # Kept for ever: analytics rebuilds coverage by replaying it from the start.
    retention_ms=FOREVER,
)
OTP_REQUESTS = Topic(
    "sangathan.otp-requests.v1",
    12,
    "booth_id",
    (types.OTP_REQUESTED,),
    "Codes to send. Carries phone numbers, so it keeps only hours: a code is valid for minutes.",
    retention_ms=6 * HOUR_MS,
    segment_ms=HOUR_MS,
)
OTP_RESULTS = Topic(
    "sangathan.otp-results.v1",
    12,
    "booth_id",
    (types.OTP_VERIFIED, types.OTP_FAILED),
    "Outcome of each code: verified or failed, in order per booth.",
)
DIRECTIVES = Topic(
    "sangathan.directives.v1",
    6,
    "issuing_unit",
    (types.DIRECTIVE_ISSUED,),
    "Directives from HQ down; few and unit-keyed, the fan-out to booths happens in the notifier.",
    retention_ms=30 * DAY_MS,
)
DELIVERY_STATUS = Topic(
    "sangathan.delivery-status.v1",
    12,
    "booth_id",
    (types.DELIVERY_STATUS,),
    "Per-message channel status; the largest stream (booths x members x channels x statuses).",
)
DIRECTIVE_ACKS = Topic(
    "sangathan.directive-acks.v1",
    12,
    "booth_id",
    (types.DIRECTIVE_ACKNOWLEDGED,),
    "Booth-team members confirming directives.",
    retention_ms=30 * DAY_MS,
)
COVERAGE = Topic(
    "sangathan.coverage.v1",
    6,
    "unit_id",
    (types.COVERAGE_UPDATED,),
    "Latest coverage per unit; compacted, so reading it from the start gives the current picture.",
    retention_ms=None,
)
ERASURES = Topic(
    "sangathan.personal-data-erasures.v1",
    12,
    "booth_id",
    (types.PERSON_ERASED,),
    "Appointees whose name and phone were erased (DPDP Act): consumers holding copies delete them. "
    "Names appointments, never people; kept a month so a consumer that was down still honours it.",
    retention_ms=30 * DAY_MS,
)
MEETINGS = Topic(
    "sangathan.meetings.v1",
    6,
    "meeting_id",
    (types.MEETING_SCHEDULED, types.MEETING_STARTED, types.MEETING_ENDED, types.MEETING_CANCELLED),
    "Each meeting's life: scheduled, started, ended with its totals, or cancelled at its start by "
    "the sending policy. Few and meeting-keyed.",
    # Kept for ever: analytics rebuilds meetings held per unit by replaying it from the start.
    retention_ms=FOREVER,
)
MEETING_ATTENDANCE = Topic(
    "sangathan.meeting-attendance.v1",
    12,
    "booth_id",
    (
        types.PARTICIPANT_INVITED,
        types.CALL_ATTEMPTED,
        types.PARTICIPANT_JOINED,
        types.PARTICIPANT_LEFT,
        types.PARTICIPANT_CONFIRMED,
    ),
    "Who was invited, rang, joined, left and confirmed, booth-keyed so a booth's stay in order. "
    "Appointment ids only, never phones. Kept for ever: analytics replays it to rebuild reach.",
    retention_ms=FOREVER,
)
REPORT_FORMS = Topic(
    "sangathan.report-forms.v1",
    6,
    "form_id",
    (types.FORM_PUBLISHED, types.FORM_PUBLISHED_V2),
    "Report form versions as published: questions' ids, types, options and (v2) their Hindi and "
    "English labels. Few and form-keyed; kept for ever so a consumer rebuilds what each answer "
    "means.",
    retention_ms=FOREVER,
)
REPORT_SUBMISSIONS = Topic(
    "sangathan.report-submissions.v1",
    12,
    "booth_id",
    (types.REPORT_DISPATCHED, types.REPORT_SUBMITTED, types.REPORT_REVIEWED),
    "Reports asked of each booth, its answers and their reviews, booth-keyed so a booth's stay in "
    "order (asked before answered before reviewed). Option ids and numbers only, never free text "
    "or phones. Kept for ever: analytics replays it to rebuild expected and submitted.",
    retention_ms=FOREVER,
)
WHATSAPP_GROUPS = Topic(
    "sangathan.whatsapp-groups.v1",
    12,
    "booth_id",
    (types.WHATSAPP_GROUP_UPDATED,),
    "Booth WhatsApp groups and broadcast lists: kind and member count, never names or invite "
    "links. Kept for ever: analytics replays it for coverage.",
    retention_ms=FOREVER,
)
# The notifier's own work queues: one delivery task (one message to one recipient on one
# channel) per record, keyed by booth_id, in plain JSON rather than CloudEvents (no other service
# reads them). One topic per lane, each with its own consumer group, so urgent traffic (OTP codes,
# urgent directives) is never queued behind a bulk send. They carry phones: kept only hours.
DELIVERY_TASKS_URGENT = Topic(
    "sangathan.delivery-tasks-urgent.v1",
    12,
    "booth_id",
    (),
    "Notifier work queue, urgent lane: OTP codes and urgent directives. "
    "Carries phones and codes, so it keeps hours only.",
    retention_ms=6 * HOUR_MS,
    segment_ms=HOUR_MS,
    carries=TASKS,
)
DELIVERY_TASKS_NORMAL = Topic(
    "sangathan.delivery-tasks-normal.v1",
    12,
    "booth_id",
    (),
    "Notifier work queue, normal lane: directives of normal priority. Carries phones.",
    retention_ms=DAY_MS,
    segment_ms=HOUR_MS,
    carries=TASKS,
)
DELIVERY_TASKS_BULK = Topic(
    "sangathan.delivery-tasks-bulk.v1",
    12,
    "booth_id",
    (),
    "Notifier work queue, bulk lane: bulk directives, which yield to the other lanes. "
    "Carries phones.",
    retention_ms=DAY_MS,
    segment_ms=HOUR_MS,
    carries=TASKS,
)
DEAD_LETTER = Topic(
    "sangathan.dead-letter.v1",
    3,
    None,
    (),
    "Messages a consumer could not use, with dlt_* headers saying why and where from; "
    "phones and names sealed (dead-letter keyring), the rest unchanged. "
    "Kept a week, long enough to look after a holiday.",
    carries=DEAD_LETTERS,
)

TOPICS = (
    APPOINTMENTS,
    OTP_REQUESTS,
    OTP_RESULTS,
    DIRECTIVES,
    DELIVERY_STATUS,
    DIRECTIVE_ACKS,
    COVERAGE,
    ERASURES,
    MEETINGS,
    MEETING_ATTENDANCE,
    REPORT_FORMS,
    REPORT_SUBMISSIONS,
    WHATSAPP_GROUPS,
    DELIVERY_TASKS_URGENT,
    DELIVERY_TASKS_NORMAL,
    DELIVERY_TASKS_BULK,
    DEAD_LETTER,
)
_BY_EVENT_TYPE = {event_type: topic for topic in TOPICS for event_type in topic.event_types}


def topic_for(event_type: str) -> Topic:
    try:
        return _BY_EVENT_TYPE[event_type]
    except KeyError:
        raise LookupError(f"no topic carries {event_type!r}") from None


def replication_factor() -> int:
    """1 on a single local broker; set KAFKA_REPLICATION_FACTOR=3 on a real cluster."""
    value = int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))
    if value < 1:
        raise ValueError(f"KAFKA_REPLICATION_FACTOR must be at least 1, not {value}")
    return value


def ensure_topics(bootstrap: str, timeout: float = 30.0) -> list[str]:
    """Create every registry topic the cluster lacks; return the names created (idempotent)."""
    admin = AdminClient(client_config(bootstrap))
    existing = admin.list_topics(timeout=timeout).topics
    rf = replication_factor()
    missing = [
        NewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=rf,
            config=topic.config(rf),
        )
        for topic in TOPICS
        if topic.name not in existing
    ]
    created = []
    if missing:
        futures = admin.create_topics(missing, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                # Another process (a second service starting) won the race: that is success too.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    for topic in TOPICS:
        found = existing.get(topic.name)
        if found is not None and len(found.partitions) != topic.partitions:
            log.warning(
                "topic partition count differs from the registry",
                fields={
                    "topic": topic.name,
                    "partitions": len(found.partitions),
                    "registry": topic.partitions,
                },
            )
    if created:
        log.info("created topics", fields={"topics": sorted(created), "replication_factor": rf})
    return sorted(created)


def main(argv: list[str] | None = None) -> None:
    from shared.settings import PlatformSettings

    parser = argparse.ArgumentParser(
        prog="python -m shared.topics", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["ensure"])
    parser.add_argument(
        "--bootstrap", default=None, help="default: KAFKA_BOOTSTRAP or 127.0.0.1:9092"
    )
    args = parser.parse_args(argv)
    created = ensure_topics(args.bootstrap or PlatformSettings().kafka_bootstrap)
    print("created: " + (", ".join(created) if created else "nothing, every topic exists"))


if __name__ == "__main__":
    main()
