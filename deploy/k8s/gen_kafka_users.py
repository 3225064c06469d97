"""Strimzi `KafkaUser` resources, one per service, generated from the topic registry.

    python deploy/k8s/gen_kafka_users.py     # rewrites deploy/k8s/base/kafka/users.yaml

Each service authenticates with SCRAM-SHA-512 as `sangathan-<service>` (Strimzi's User Operator
makes the password and writes it to the Secret of that name, key `password`) and may touch only
the registry topics listed in ACCESS below: read what it consumes (with its consumer groups),
write what it publishes. The urgent lane carries OTP codes, so only the notifier reads it. Every
user may Describe every registry topic: `shared.topics.ensure_topics` at start-up must see that
they exist, or it would try to create them. tests/unit/test_k8s_kafka_users.py fails if the
committed file is not what this writes, or if a service's code names a topic or publishes an
event type its user may not touch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from shared import topics as t  # noqa: E402
from shared.topics import TOPICS, Topic  # noqa: E402

TARGET = Path(__file__).resolve().parent / "base" / "kafka" / "users.yaml"
CLUSTER = "sangathan"  # the Strimzi `Kafka` resource in base/kafka/kafka.yaml
HEADER = (
    "# Generated from shared/topics.py and ACCESS in deploy/k8s/gen_kafka_users.py by that script;"
    " do not edit by hand.\n"
)
LANES = (t.DELIVERY_TASKS_URGENT, t.DELIVERY_TASKS_NORMAL, t.DELIVERY_TASKS_BULK)


@dataclass(frozen=True)
class Access:
    reads: tuple[Topic, ...] = ()
    writes: tuple[Topic, ...] = ()
    groups: tuple[str, ...] = ()  # consumer groups, by name
    group_prefixes: tuple[str, ...] = ()  # groups named per process (live feeds: <prefix><uuid>)
    own_topic_prefix: str | None = None  # topics the service creates itself (Faust's changelogs)


# Who reads and writes what. Every consumer can dead-letter (shared/kafka/consumer.py).
ACCESS = {
    # Publishes appointment changes, codes to send and erasures from its outbox; reads codes'
    # outcomes, and its own appointments for the portal's live view.
    "appointments": Access(
        reads=(t.OTP_RESULTS, t.APPOINTMENTS),
        writes=(t.APPOINTMENTS, t.OTP_REQUESTS, t.ERASURES, t.DEAD_LETTER),
        groups=("appointments",),
        group_prefixes=("appointments-live-",),
    ),
    "otp": Access(reads=(t.OTP_REQUESTS,), writes=(t.OTP_RESULTS, t.DEAD_LETTER), groups=("otp",)),
    # Issues directives and schedules them (reads them back), sends through its three lanes,
    # reports statuses and acknowledgements, honours erasures.
    "notifier": Access(
        reads=(t.DIRECTIVES, t.ERASURES, *LANES),
        writes=(t.DIRECTIVES, t.DELIVERY_STATUS, t.DIRECTIVE_ACKS, *LANES, t.DEAD_LETTER),
        groups=(
            "notifier-fanout",
            "notifier-erasures",
            "notifier-urgent",
            "notifier-normal",
            "notifier-bulk",
        ),
    ),
    # Publishes each meeting's life and its attendance from its outbox; drops the phones it
    # holds for dial-out when an appointee is erased.
    "meetings": Access(
        reads=(t.ERASURES,),
        writes=(t.MEETINGS, t.MEETING_ATTENDANCE, t.DEAD_LETTER),
        groups=("meetings",),
    ),
    # Publishes forms as published, the reports asked of each booth, their answers and reviews,
    # and booth WhatsApp groups, all from its outbox; takes an erased appointee out of their
    # submissions; reads which appointments ended, whose answer links then stop.
    "reports": Access(
        reads=(t.ERASURES, t.APPOINTMENTS),
        writes=(t.REPORT_FORMS, t.REPORT_SUBMISSIONS, t.WHATSAPP_GROUPS, t.DEAD_LETTER),
        groups=("reports-erasures", "reports-link-holders"),
    ),
    # The Faust app: its group and its own topics are its app id (ANALYTICS_APP_ID).
    "analytics": Access(
        reads=(
            t.APPOINTMENTS,
            t.DELIVERY_STATUS,
            t.DIRECTIVE_ACKS,
            t.DIRECTIVES,
            t.COVERAGE,
            t.MEETINGS,
            t.MEETING_ATTENDANCE,
            t.REPORT_SUBMISSIONS,
            t.WHATSAPP_GROUPS,
        ),
        writes=(t.COVERAGE, t.DEAD_LETTER),
        groups=("sangathan-analytics",),
        own_topic_prefix="sangathan-analytics-",
    ),
    "dashboard": Access(reads=(t.COVERAGE, t.REPORT_FORMS), group_prefixes=("dashboard-live-",)),
}


def user_name(service: str) -> str:
    return f"sangathan-{service}"


def _acl(kind: str, name: str, operations: list[str], pattern: str = "literal") -> dict:
    return {
        "resource": {"type": kind, "name": name, "patternType": pattern},
        "operations": operations,
    }


def acls(access: Access) -> list[dict]:
    rules = []
    for topic in TOPICS:
        operations = (["Read"] if topic in access.reads else []) + (
            ["Write"] if topic in access.writes else []
        )
        rules.append(_acl("topic", topic.name, operations + ["Describe"]))
    rules += [_acl("group", group, ["Read"]) for group in access.groups]
    rules += [_acl("group", prefix, ["Read"], "prefix") for prefix in access.group_prefixes]
    if access.own_topic_prefix:
        rules.append(
            _acl(
                "topic",
                access.own_topic_prefix,
                # AlterConfigs: the worker bounds its compacted topics' segments at start
                # (analytics/adapters/topics.py), also of topics made before that
                ["Create", "Read", "Write", "Describe", "DescribeConfigs", "AlterConfigs"],
                "prefix",
            )
        )
    return rules


def kafka_user(service: str, access: Access) -> dict:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": user_name(service), "labels": {"strimzi.io/cluster": CLUSTER}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls(access)},
        },
    }


def render() -> str:
    documents = [
        yaml.safe_dump(kafka_user(s, a), sort_keys=False, width=200) for s, a in ACCESS.items()
    ]
    return HEADER + "---\n".join(documents)


def main() -> None:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {len(ACCESS)} users to {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
