"""What the handlers need from outside, as protocols (the conference half; the meetings-core
branch adds the store, invitees, registry, events and messages)."""

from __future__ import annotations

from typing import Protocol

from meetings.conference import ProviderEvent


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
