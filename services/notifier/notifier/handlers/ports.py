"""What the notifier's handlers need from the world, as Protocols, and what they refuse with.

bootstrap wires the real adapters (MongoDB store, Redis ledger and tally, Kafka events and lanes,
the org registry); a test may hand in its own behind the same methods.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from notifier.adapters.channels import Channel
from notifier.domain.acks import AckLinks
from notifier.domain.directives import Directive, Move
from notifier.domain.policy import SendingPolicy
from notifier.domain.tasks import Task


class DirectiveRepository(Protocol):
    """Directives, their audit trail and opt-outs (notifier.adapters.store.DirectiveStore)."""

    def insert(self, directive: Directive) -> None: ...  # DuplicateDirective if the id exists

    def get(self, directive_id: str) -> Directive | None: ...

    def move(self, directive_id: str, move: Move, **fields: Any) -> Directive | None: ...

    def mark_published(self, directive_id: str) -> None: ...

    def unpublished(self, limit: int = 100) -> list[Directive]: ...

    def recurring(self, limit: int = 500) -> list[dict[str, Any]]: ...

    def next_round(self, directive_id: str, next_slot: datetime) -> None: ...

    def audit(self, action: str, *, actor: str, subject: str, **details: Any) -> None: ...

    def record_optout(self, phone_key: str, *, via: str, channel: str) -> None: ...


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

    # the sender's screening, claims, caps and bookkeeping (notifier.sending, notifier.lane_workers)

    def cancelled(self, directive_ids: Iterable[str]) -> set[str]: ...

    def opted_out(self, phones: Sequence[str]) -> list[bool]: ...

    def erased(self, recipient_ids: Iterable[str]) -> set[str]: ...

    def claim(self, delivery_ids: Sequence[str], owner: str) -> list[int]: ...

    def phone_hash(self, phone: str) -> str: ...

    def admit(self, pairs: Sequence[tuple[str, str]], *, cap: int, now: float) -> list[bool]: ...

    def cap_frees_at(self, sender: str) -> float | None: ...

    def settle(self, *, sent: Iterable[tuple[Task, str]] = (), failed: Iterable[tuple[Task, str]] = (),
               released: Iterable[Task] = ()) -> None: ...


class StatusTally(Protocol):
    """Per-directive counts (notifier.adapters.tally.Tally)."""

    def count(self, events: list[tuple]) -> None: ...


class EventPublisher(Protocol):
    """The notifier's events on Kafka (notifier.adapters.events.NotifierEvents)."""

    def publish(self, events: list[tuple[str, str, dict, datetime]]) -> None: ...  # EventsUnavailable

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


@dataclass
class Ports:
    """Everything the handlers need; bootstrap wires the real ones."""

    store: DirectiveRepository
    ledger: DeliveryLedger
    tally: StatusTally
    events: EventPublisher
    producer: TaskLanes  # the urgent lane, for OTP codes; fallbacks found by receipts
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


class Refused(Exception):
    """A command the rules turn down; the API answers it as an RFC 9457 problem."""

    def __init__(self, status: int, kind: str, title: str, detail: str):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


class NotFound(Exception):
    """No directive has this id."""
