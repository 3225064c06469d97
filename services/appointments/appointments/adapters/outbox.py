"""The outbox relay: publishes the events booth teams hold, then removes them from the team.

At-least-once: a crash after publishing and before removal publishes again, with the same
event ids, which consumers de-duplicate. Kafka being down only delays events: the writes that
caused them have already succeeded, and the relay retries with backoff until Kafka is back.
Before removing a booth's events the relay also brings the verified-recipient directory up to
date for the roles they changed, so the directory follows every team through the same
at-least-once path (a crash in between leaves the events, and the next round does it again).
"""

import threading
from datetime import datetime

from prometheus_client import Counter, Gauge

from appointments.adapters.mongo import BoothTeams
from appointments.adapters.recipients import RecipientDirectory
from appointments.domain import BoothTeam, roles_reached_differently
from appointments.ports import ConcurrentUpdate
from shared.events.contracts import EventError
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.logging import get_logger
from shared.outbox import FLUSH_TIMEOUT_S, relay_until_stopped

log = get_logger(__name__)

RELAYED = Counter(
    "sangathan_outbox_events_relayed", "Outbox events published to Kafka, by type", ["type"]
)
RELAY_FAILURES = Counter(
    "sangathan_outbox_relay_failures", "Relay rounds that could not publish (Kafka unavailable)"
)
QUARANTINED = Counter(
    "sangathan_outbox_events_quarantined",
    "Outbox events that break their contract, set aside as dead letters",
    ["type"],
)
# One series per relay: booth teams and unit offices each have their own pending pointers, and
# one unlabelled gauge set by both showed whichever relay ran last.
BACKLOG = Gauge(
    "sangathan_outbox_backlog_booths",
    "Teams (booth teams, unit offices) with events not yet published, up to a relay batch",
    ["relay"],
)


class OutboxRelay:
    def __init__(
        self,
        teams: BoothTeams,
        recipients: RecipientDirectory,
        publisher: EventPublisher,
        *,
        name: str = "booth_teams",
        batch: int = 500,
        interval_s: float = 0.05,
        sweep_interval_s: float = 60.0,
        max_backoff_s: float = 5.0,
    ):
        self.teams, self.recipients, self.publisher = teams, recipients, publisher
        self.batch, self.interval_s, self.sweep_interval_s = batch, interval_s, sweep_interval_s
        self.max_backoff_s = max_backoff_s
        self._backlog = BACKLOG.labels(name)

    def run(self, stop: threading.Event) -> None:
        relay_until_stopped(
            stop,
            self.relay_once,
            self.sweep,
            interval_s=self.interval_s,
            sweep_interval_s=self.sweep_interval_s,
            max_backoff_s=self.max_backoff_s,
            failures=RELAY_FAILURES,
        )

    def relay_once(self) -> int:
        """Publish the events of up to `batch` booths; returns how many events went out."""
        booths = self.teams.pending_booths(self.batch)
        self._backlog.set(len(booths))
        taken: dict[str, BoothTeam] = {}
        for booth_id in booths:
            # Clear the pointer before reading: a write after this point sets it again.
            self.teams.clear_pending(booth_id)
            team = self.teams.get(booth_id)
            if team is None or not team.outbox:
                continue
            for event in team.outbox:
                self._publish(booth_id, event)
            taken[booth_id] = team
        try:
            self.publisher.flush(FLUSH_TIMEOUT_S)
        except DeliveryError:
            for booth_id in taken:
                self.teams.mark_pending(booth_id)
            raise
        for booth_id, team in taken.items():
            self.recipients.record(team, roles_reached_differently(team.outbox))
            self._remove(booth_id, {e["id"] for e in team.outbox})
        return sum(len(team.outbox) for team in taken.values())

    def _publish(self, booth_id: str, event: dict) -> None:
        """Queue one event; one that breaks its contract can never be published, so it is set
        aside with its reason (and counted, for the alert) and the booth's other events go on."""
        try:
            self.publisher.emit(
                event["type"],
                event["data"],
                event_id=event["id"],
                time=datetime.fromisoformat(event["time"]),
            )
        except EventError as bad:
            self.teams.quarantine(booth_id, event, str(bad))
            QUARANTINED.labels(event["type"]).inc()
            log.error(
                "outbox event quarantined",
                fields={
                    "booth_id": booth_id,
                    "event_id": event["id"],
                    "type": event["type"],
                    "reason": str(bad),
                },
            )

    def sweep(self) -> None:
        for booth_id in self.teams.booths_with_outbox():
            self.teams.mark_pending(booth_id)

    def _remove(self, booth_id: str, event_ids: set[str]) -> None:
        for _ in range(10):
            team = self.teams.get(booth_id)
            published = [e for e in team.outbox if e["id"] in event_ids]
            if not published:
                return
            team.take_outbox(event_ids)
            try:
                self.teams.save(team)
            except ConcurrentUpdate:
                continue
            for e in published:
                RELAYED.labels(e["type"]).inc()
            return
        # Still there: published again next round, and de-duplicated by id downstream.
        self.teams.mark_pending(booth_id)
