"""Synthetic booth-team rollouts on scratch topics, for the analytics tests and benchmark.

A rollout appoints and verifies whole teams the way the appointments service would publish
them, onto topics of its own, so a worker started with `ScratchStream.worker_env()` counts them
without touching the platform's topics or its coverage.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from shared import topics
from shared.auth.issuer import organiser_token
from shared.events import types as t
from shared.events.contracts import Event, new_event
from shared.kafka.producer import EventPublisher
from shared.kafka.security import client_config
from shared.orgtree.levels import Unit, path_of
from shared.teams.rules import PRESIDENT

APPOINTMENTS_SOURCE = "/sangathan/appointments"
# A complete team under the default rules: every required role, 12 members, 3 of them women.
TEAM = (
    (PRESIDENT, "female"),
    ("mann_ki_baat_pramukh", "male"),
    ("labharthi_pramukh", "female"),
    ("whatsapp_pramukh", "male"),
    ("it_social_media", "male"),
    ("panna_pramukh", "female"),
    ("panna_pramukh", "male"),
    ("panna_pramukh", "male"),
    ("panna_pramukh", "male"),
    ("panna_pramukh", "male"),
    ("member", "male"),
    ("member", "male"),
)


@dataclass
class Seat:
    """One appointment of a rollout, with the events that made it."""

    booth: Unit
    role: str
    gender: str
    appointment_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def base(self) -> dict:
        return {
            "appointment_id": self.appointment_id,
            "booth_id": self.booth["id"],
            "booth_path": path_of(self.booth["ancestors"]),
            "role": self.role,
            "gender": self.gender,
        }

    def appointed(self, at: datetime) -> Event:
        event_type = (
            t.BOOTH_PRESIDENT_APPOINTED if self.role == PRESIDENT else t.BOOTH_MEMBER_APPOINTED
        )
        data = {
            **self.base(),
            "organiser_id": "user-rollout",
            "replaces_appointment_id": None,
            "appointed_at": at.isoformat(),
        }
        return new_event(event_type, data, APPOINTMENTS_SOURCE, time=at)

    def verified(self, at: datetime) -> Event:
        data = {**self.base(), "otp_request_id": str(uuid.uuid4()), "verified_at": at.isoformat()}
        return new_event(t.APPOINTMENT_VERIFIED, data, APPOINTMENTS_SOURCE, time=at)

    def revoked(self, at: datetime, reason: str = "revoked") -> Event:
        data = {
            **self.base(),
            "organiser_id": "user-rollout",
            "reason": reason,
            "replaced_by_appointment_id": None,
            "revoked_at": at.isoformat(),
        }
        return new_event(t.APPOINTMENT_REVOKED, data, APPOINTMENTS_SOURCE, time=at)


def team(booth: Unit, members: Iterable[tuple[str, str]] = TEAM) -> list[Seat]:
    return [Seat(booth, role, gender) for role, gender in members]


def rollout_events(
    booths: Iterable[Unit],
    *,
    verify: bool = True,
    start: datetime | None = None,
    step: timedelta = timedelta(milliseconds=1),
) -> Iterator[Event]:
    """Each booth's whole team appointed, then verified, booth after booth."""
    at = start or datetime.now(timezone.utc)
    for booth in booths:
        seats = team(booth)
        for seat in seats:
            yield seat.appointed(at)
            at += step
        if verify:
            for seat in seats:
                yield seat.verified(at)
                at += step


def mandals_under(registry, unit_id: str) -> Iterator[str]:
    """The mandals under a unit, found by walking down the tree's children (lookups by id, which
    stay fast with the national tree loaded)."""
    for child in registry.children(unit_id):
        if child["level"] == "mandal":
            yield child["id"]
        else:
            yield from mandals_under(registry, child["id"])


def first_booths(registry, unit_id: str, n: int) -> list[Unit]:
    """The unit's first `n` booths in id order."""
    return [registry.get(b) for b in sorted(registry.booth_ids_under(unit_id))[:n]]


class ScratchStream:
    """Topics of its own for one test or benchmark run, and the environment of its workers."""

    def __init__(self, bootstrap: str, prefix: str | None = None):
        self.bootstrap = bootstrap
        self.prefix = prefix or f"scratch-analytics-{uuid.uuid4().hex[:8]}"
        self.app_id = f"{self.prefix}-app"
        self.names = {
            topics.APPOINTMENTS.name: f"{self.prefix}.appointments",
            topics.DELIVERY_STATUS.name: f"{self.prefix}.delivery-status",
            topics.DIRECTIVE_ACKS.name: f"{self.prefix}.directive-acks",
            topics.DIRECTIVES.name: f"{self.prefix}.directives",
            topics.MEETINGS.name: f"{self.prefix}.meetings",
            topics.MEETING_ATTENDANCE.name: f"{self.prefix}.meeting-attendance",
            topics.COVERAGE.name: f"{self.prefix}.coverage",
            topics.DEAD_LETTER.name: f"{self.prefix}.dead-letter",
        }
        self._admin = AdminClient(client_config(bootstrap))

    def topic(self, registry_topic: topics.Topic) -> str:
        return self.names[registry_topic.name]

    def create(self) -> None:
        by_name = {topic.name: topic for topic in topics.TOPICS}
        new = [
            NewTopic(
                scratch,
                num_partitions=by_name[real].partitions,
                replication_factor=1,
                config=by_name[real].config(1),
            )
            for real, scratch in self.names.items()
        ]
        for future in self._admin.create_topics(new, operation_timeout=30).values():
            future.result()

    def delete(self) -> None:
        """Every topic of the run: ours and those its workers' Faust app made
        (changelogs, partials)."""
        existing = self._admin.list_topics(timeout=10).topics
        doomed = [name for name in existing if name.startswith(self.prefix)]
        if doomed:
            for future in self._admin.delete_topics(doomed, operation_timeout=30).values():
                try:
                    future.result()
                except Exception:
                    pass  # already gone

    def unread(self) -> dict[int, tuple[int | None, int]]:
        """Per appointments partition: the workers' committed offset and the end of the log.

        Said when a test fails, to tell a worker that stopped reading from one that miscounted.
        """
        topic = self.topic(topics.APPOINTMENTS)
        probe = Consumer(
            client_config(self.bootstrap, {"group.id": self.app_id, "enable.auto.commit": False})
        )
        try:
            parts = [TopicPartition(topic, p) for p in range(topics.APPOINTMENTS.partitions)]
            committed = {
                tp.partition: (tp.offset if tp.offset >= 0 else None)
                for tp in probe.committed(parts, timeout=10)
            }
            return {
                p: (
                    committed[p],
                    probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1],
                )
                for p in committed
            }
        finally:
            probe.close()

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {
            "ANALYTICS_APP_ID": self.app_id,
            "ANALYTICS_APPOINTMENTS_TOPIC": self.topic(topics.APPOINTMENTS),
            "ANALYTICS_DELIVERY_STATUS_TOPIC": self.topic(topics.DELIVERY_STATUS),
            "ANALYTICS_DIRECTIVE_ACKS_TOPIC": self.topic(topics.DIRECTIVE_ACKS),
            "ANALYTICS_DIRECTIVES_TOPIC": self.topic(topics.DIRECTIVES),
            "ANALYTICS_MEETINGS_TOPIC": self.topic(topics.MEETINGS),
            "ANALYTICS_MEETING_ATTENDANCE_TOPIC": self.topic(topics.MEETING_ATTENDANCE),
            "ANALYTICS_COVERAGE_TOPIC": self.topic(topics.COVERAGE),
            "ANALYTICS_DEAD_LETTER_TOPIC": self.topic(topics.DEAD_LETTER),
            **extra,
        }

    def publisher(self, source: str = APPOINTMENTS_SOURCE) -> EventPublisher:
        """Publishes to this run's topics, exactly as the services publish to the real ones."""
        return EventPublisher(
            self.bootstrap,
            source,
            topic_for=lambda event_type: self.names[topics.topic_for(event_type).name],
        )


class CoverageClient:
    """The coverage API as HQ reads it, with waiting for a condition to hold."""

    def __init__(self, base: str, unit: str = "IN"):
        self.base = base
        self.http = httpx.Client(
            base_url=base,
            timeout=10,
            headers={"Authorization": f"Bearer {organiser_token(sub='user-hq', unit=unit)}"},
        )

    def get(self, unit_id: str) -> dict:
        response = self.http.get(f"/coverage/{unit_id}")
        response.raise_for_status()
        return response.json()

    def reach(self, directive_id: str) -> dict | None:
        response = self.http.get(f"/directives/{directive_id}/reach")
        return response.json() if response.status_code == 200 else None

    def ready(self) -> bool:
        return self.http.get("/coverage/IN").status_code == 200

    def metric(self, name: str, labels: str = "") -> float | None:
        """A sample from /metrics, e.g. metric("sangathan_analytics_partitions_owned")."""
        text = self.http.get("/metrics").text
        match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
        return float(match[1]) if match else None

    def wait_for(self, condition, timeout_s: float = 20.0, interval_s: float = 0.1):
        """Poll `condition()` until it returns something truthy; return that, or raise after
        timeout."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                last = condition()
            except Exception as exc:  # not ready yet, a 503 while recovering, ...
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval_s)
        raise AssertionError(f"condition not met within {timeout_s}s; last: {last!r}")
