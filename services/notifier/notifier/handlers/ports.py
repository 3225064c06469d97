"""What the notifier's handlers need from the world, as Protocols, and what they refuse with.

bootstrap wires the real adapters (MongoDB store, Redis ledger and tally, Kafka events and lanes,
the org registry); a test may hand in its own behind the same methods.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from notifier.adapters.channels import Channel
from notifier.domain.acks import AckLinks
from notifier.domain.directives import Directive, Move
from notifier.domain.tasks import Task
from shared.sending.policy import SendingPolicy


class DirectiveRepository(Protocol):
    """Directives, their audit trail and opt-outs (notifier.adapters.store.DirectiveStore)."""

    def insert(self, directive: Directive) -> None: ...  # DuplicateDirective if the id exists

    def get(self, directive_id: str) -> Directive | None: ...

    def move(self, directive_id: str, move: Move, **fields: Any) -> Directive | None: ...

    def mark_published(self, directive_id: str) -> None: ...

    def unpublished(self, limit: int = 100) -> list[Directive]: ...

    def recurring(self, limit: int = 500) -> list[Directive]: ...  # running, of a recurrence

    def next_round(self, directive_id: str, next_slot: datetime) -> None: ...

    def audit(self, action: str, *, actor: str, subject: str, **details: Any) -> None: ...

    def record_optout(self, phone_key: str, *, via: str, channel: str) -> None: ...


class RoundRepository(DirectiveRepository, Protocol):
    """Directives with the rounds the fan-out claims, one scheduler at a time (DirectiveStore)."""

    def claim_round(
        self,
        directive_id: str,
        round_id: str,
        slot: datetime,
        *,
        owner: str,
        now: float,
        lease_s: float,
    ) -> Directive | None: ...

    def finish_round(
        self,
        directive_id: str,
        round_id: str,
        *,
        owner: str,
        targeted: int,
        next_slot: datetime | None,
    ) -> Directive | None: ...

    def renew_round(
        self, directive_id: str, round_id: str, *, owner: str, until: float
    ) -> None: ...

    def miss_round(self, directive_id: str, round_id: str, slot: datetime) -> None: ...


class FollowUpRecords(Protocol):
    """Directives sent and what was followed up on them (DirectiveStore), for notifier.followups."""

    def sent_since(self, states: tuple[str, ...] = ..., limit: int = 200) -> list[Directive]: ...

    def record_reminders(self, directive_id: str, reminders: int) -> None: ...

    def record_escalations(self, directive_id: str, escalations: dict[str, int]) -> None: ...


class DeliveryLedger(Protocol):
    """What was sent and what waits (notifier.adapters.ledger.Ledger): the part handlers and the
    sender use (the fan-out's jobs and resume points are the fan-out's own)."""

    def cancel(self, directive_id: str) -> None: ...

    def schedule_fanout(self, job: str, due: float) -> None: ...

    def delivered_by(self, provider_ids: Sequence[str]) -> list[dict | None]: ...

    def park_early(self, receipts: Sequence[dict]) -> None: ...

    def take_early(self, provider_ids: Sequence[str]) -> list[dict]: ...

    def fallbacks(self, provider_ids: Sequence[str]) -> list[tuple[str, bytes]]: ...

    def forget_fallbacks(self, provider_ids: Sequence[str]) -> None: ...

    def mark_acknowledged(self, directive_id: str, recipient_id: str, via: str) -> bool: ...

    def unmark_acknowledged(self, directive_id: str, recipient_id: str) -> None: ...

    def opt_out(self, phone: str) -> str: ...

    def forget_recipients(self, recipient_ids: set[str]) -> int: ...

    def take_due_tasks(self, now: float, limit: int = 1000) -> list[bytes]: ...

    def forget_tasks(self, members: Sequence[bytes]) -> None: ...

    def defer(self, tasks: Sequence[tuple[Task, float]]) -> None: ...

    def queued_before(self, kind: str, message_ids: Sequence[str]) -> list[bool]: ...

    def mark_queued(self, kind: str, message_ids: Sequence[str]) -> None: ...

    # the sender's screening, claims, caps and bookkeeping (notifier.sending, notifier.lane_workers)

    def cancelled(self, directive_ids: Iterable[str]) -> set[str]: ...

    def opted_out(self, phones: Sequence[str]) -> list[bool]: ...

    def erased(self, recipient_ids: Iterable[str]) -> set[str]: ...

    def claim(self, delivery_ids: Sequence[str], owner: str) -> list[int]: ...

    def phone_hash(self, phone: str) -> str: ...

    def admit(self, pairs: Sequence[tuple[str, str]], *, cap: int, now: float) -> list[bool]: ...

    def cap_frees_at(self, sender: str) -> float | None: ...

    def settle(
        self,
        *,
        sent: Iterable[tuple[Task, str]] = (),
        failed: Iterable[tuple[Task, str]] = (),
        released: Iterable[Task] = (),
    ) -> None: ...


class FanOutLedger(Protocol):
    """Fan-out jobs and their resume points (notifier.adapters.ledger.Ledger), for
    notifier.fanout: a job is taken under a lease, chunk by chunk, and finished once."""

    def schedule_fanout(self, job: str, due: float) -> None: ...

    def reschedule_fanout(self, job: str, due: float) -> None: ...

    def take_due_fanout(self, now: float, lease_s: float) -> str | None: ...

    def renew_fanout(self, job: str, until: float) -> None: ...

    def finish_fanout(self, job: str) -> None: ...

    def chunks_done(self, job: str) -> set[str]: ...

    def chunk_done(
        self, job: str, chunk: str, targeted: int, *, counted: Callable[[Any], None]
    ) -> None: ...

    def targeted(self, job: str) -> int: ...

    def first_round(self, directive_id: str, round_id: str) -> bool: ...

    def cancelled(self, directive_ids: Iterable[str]) -> set[str]: ...

    def opted_out(self, phones: Sequence[str]) -> list[bool]: ...


class StatusTally(Protocol):
    """Per-directive counts (notifier.adapters.tally.Tally)."""

    def count(self, events: list[tuple]) -> None: ...

    # the fan-out's targeted recipients, written with its resume point (FanOutLedger.chunk_done)
    def targeted(
        self, directive_id: str, counts: Counter, booths: set[str]
    ) -> Callable[[Any], None]: ...

    # the follow-ups' reads (notifier.followups)
    def acked_booths(self, directive_id: str, booth_ids: list[str]) -> list[bool]: ...

    def booths_without(self, directive_id: str, which: str, limit: int) -> list[str]: ...


class EventPublisher(Protocol):
    """The notifier's events on Kafka (notifier.adapters.events.NotifierEvents)."""

    def publish(
        self, events: list[tuple[str, str, dict, datetime]]
    ) -> None: ...  # EventsUnavailable

    def close(self) -> None: ...


class TaskLanes(Protocol):
    """Delivery tasks onto their lanes (notifier.adapters.lanes.TaskProducer)."""

    def produce(self, task: Task) -> None: ...

    def produce_raw(self, lane: str, key: bytes, value: bytes, ref: str) -> None: ...

    def flush(self, timeout: float = 30.0) -> None: ...  # raises unless Kafka took everything

    def close(self) -> None: ...


class DirectiveTexts(Protocol):
    """Directives by id for their texts, cached (notifier.sending.DirectiveCache)."""

    def get(self, directive_id: str) -> Directive | None: ...


class UnitRegistry(Protocol):
    """The organisation's units (shared.orgtree.repository.OrgRegistry)."""

    def get(self, unit_id: str) -> Any | None: ...

    def children(self, unit_id: str) -> Iterable[Any]: ...


class InboundReplies(Protocol):
    """Whose phone a reply came from, and the reports service's reading of it
    (notifier.adapters.inbound.HttpInbound)."""

    def senders(self, phone: str) -> list[Any]: ...

    def hand_over(self, reply_id: str, channel: str, text: str, senders: list[Any]) -> Any: ...


@dataclass
class Ports:
    """Everything the handlers need; bootstrap wires the real ones."""

    store: DirectiveRepository
    ledger: DeliveryLedger
    tally: StatusTally
    events: EventPublisher
    producer: TaskLanes  # services' messages (OTP codes, invitations); fallbacks found by receipts
    registry: UnitRegistry
    clock: Callable[[], float] = time.time
    produce_lock: threading.Lock = field(default_factory=threading.Lock)
    policy: SendingPolicy = field(default_factory=SendingPolicy)  # windows, retries and caps
    # What the lanes' sender needs besides (notifier.sending): the provider channels by name,
    # directives' texts, acknowledgement links, and a random source for the retries' jitter.
    channels: Mapping[str, Channel] = field(default_factory=dict)
    texts: DirectiveTexts | None = None
    links: AckLinks | None = None
    rand: Callable[[], float] = random.random
    inbound: InboundReplies | None = None  # replies answering a report form


class Refused(Exception):
    """A command the rules turn down; the API answers it as an RFC 9457 problem."""

    def __init__(self, status: int, kind: str, title: str, detail: str):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


class NotFound(Exception):
    """No directive has this id."""
