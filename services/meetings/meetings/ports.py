"""What the handlers need from outside, as protocols; adapters/ holds the real ones, tests/fakes
the in-memory ones, and tests/integration/test_meetings_ports_contract.py holds both to one
behaviour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from meetings.conference import ProviderEvent
from meetings.domain import Invitee, Meeting
from shared.notifier_messages import MessagesUnavailable  # noqa: F401 (the ports raise it)
from shared.recipients import RecipientSource  # noqa: F401 (a port of the handlers too)


class MeetingStore(Protocol):
    def insert(self, meeting: Meeting, dues: dict[str, datetime | None]) -> bool:
        """Store a new meeting with its meeting-scheduled event and when each job is due (None:
        not needed); False if its id exists."""

    def get(self, meeting_id: str) -> Meeting | None: ...

    def for_unit(self, unit: str, limit: int) -> list[Meeting]:
        """Meetings held by, or reaching into, the unit or a unit under it; soonest first."""

    def mark_published(self, meeting_id: str) -> None: ...

    def unpublished(self, limit: int) -> list[Meeting]: ...

    def cancel(self, meeting_id: str, by: str, at: datetime) -> Meeting | None:
        """Cancel a scheduled meeting not yet starting, with its unpublished meeting-cancelled
        and its cancel_notice job due at once; None if it was not (cancelled, or starting)."""

    def mark_cancel_published(self, meeting_id: str) -> None: ...

    def cancel_unpublished(self, limit: int) -> list[Meeting]: ...

    def due(self, job: str, now: datetime, limit: int) -> list[Meeting]:
        """Meetings whose `job` is due, not done and held by no process: scheduled ones, or for
        cancel_notice cancelled ones."""

    def job_idle(self, meeting_id: str, job: str, now: datetime) -> bool:
        """Whether no process runs the job now: done, or no lease held."""

    def claim(self, meeting_id: str, job: str, now: datetime, until: datetime) -> bool:
        """Hold the job until `until` unless another process holds it now (atomic)."""

    def release(self, meeting_id: str, job: str, until: datetime) -> None:
        """Let the job be claimed again from `until`."""

    def chunks_done(self, meeting_id: str, job: str) -> set[str]: ...

    def chunk_done(self, meeting_id: str, job: str, unit: str, count: int) -> None: ...

    def progress(self, meeting_id: str) -> dict[str, dict]:
        """Per job: {reached: invitees so far, done_at: datetime | None}."""

    def job_done(self, meeting_id: str, job: str, at: datetime) -> None: ...


class InviteeStore(Protocol):
    def add(self, invitees: Sequence[Invitee]) -> int:
        """Store each invitee once (a repeat leaves the first); returns how many were new."""

    def get(self, meeting_id: str, participant_id: str) -> Invitee | None: ...

    def forget_phone(self, participant_id: str) -> int:
        """Drop the phone of every invitation of this appointee; how many were changed."""


class UnitRegistry(Protocol):
    """The organisation's units (shared.orgtree.repository.OrgRegistry)."""

    def get(self, unit_id: str) -> Any | None: ...

    def children(self, unit_id: str) -> Iterable[Any]: ...


class EventOutbox(Protocol):
    def emit(self, event_type: str, data: dict[str, Any], *, event_id: str | None = None): ...

    def emit_many(self, event_type: str, batch: Iterable[tuple[dict[str, Any], str]]) -> int:
        """`emit` each (data, event id) of the batch; how many."""

    def flush(self, timeout: float = 10.0) -> None:
        """Raises shared.kafka.producer.DeliveryError unless Kafka took every queued event."""


class Messages(Protocol):
    def send(self, messages: Sequence[dict]) -> tuple[int, int]:
        """Hand the notifier up to 1,000 messages; (queued, duplicates)."""


# --- the conference provider (docs/meetings.md) ---------------------------------------------


class ProviderUnavailable(Exception):
    """The conference provider did not answer (down, timed out, 5xx): try again later."""


class ProviderPaced(Exception):
    """Over the provider's calls per second: wait `retry_after_s`."""

    def __init__(self, retry_after_s: float):
        super().__init__(f"paced for {retry_after_s}s")
        self.retry_after_s = retry_after_s


class ProviderRefused(Exception):
    """The provider refused for good (`kind`: capacity-above-cap, conference-full, ...)."""

    def __init__(self, status: int, kind: str, extra: dict | None = None):
        super().__init__(kind)
        self.status, self.kind, self.extra = status, kind, extra or {}


class BadWebhook(Exception):
    """A webhook not signed with our key, stale, or not a provider event. Safe to log."""


class ConferenceProvider(Protocol):
    """A conference provider (docs/meetings.md): bridges, calls and their webhooks."""

    def create_bridge(
        self,
        *,
        bridge_ref: str,
        kind: str,
        capacity: int,
        listen_only: bool,
        status_callback: str,
        parent_bridge_id: str | None = None,
        pin: str | None = None,
        record: bool = False,
    ) -> dict:
        """{bridge_id, capacity, dial_in_number, pin, room_url}; the same ref, the same bridge."""

    def dial_out(
        self,
        bridge_id: str,
        *,
        call_ref: str,
        to: str,
        participant_ref: str,
        muted: bool,
        ring_timeout_s: float,
        caller_id: str | None = None,
    ) -> str:
        """The call's id; the same ref dials once. ProviderPaced over the calls per second."""

    def mute(self, bridge_id: str, muted: bool, call_id: str | None = None) -> None: ...

    def play(self, bridge_id: str, recording_url: str) -> None: ...

    def kick(self, bridge_id: str, call_id: str) -> None: ...

    def end(self, bridge_id: str) -> None: ...

    def participants(self, bridge_id: str) -> list[dict]:
        """Every leg that joined, those that left included (end-of-call records)."""

    def parse_webhook(self, body: bytes, signature: str | None) -> ProviderEvent:
        """The signed webhook as a normalised event; BadWebhook if it is not one of ours."""
