"""Per-recipient texts handed to the notifier's lanes, for services that write their own texts
(a meeting's invitations, a report's answer links): no sending code of their own.

    POST {NOTIFIER_URL}/v1/messages   with the calling service's token (scope messages:send)
    {messages: [{message_id, appointment_id, booth_id, phone, channel, locale, text, lane}]}
    -> 202 {queued, duplicates}; 503 with Retry-After while its lanes are away

The notifier applies its screen, pacing and policy (quiet hours, the blackout) to each message,
and queues a message id once, so a batch sent again after a failure queues nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import httpx
from prometheus_client import Counter

from shared.auth.keys import token_file
from shared.logging import get_logger

log = get_logger(__name__)

_AT_FAULT = re.compile(r"^(?:body\.)?messages\.(\d+)\.")
MAX_BATCH = 1000  # what the notifier takes in one request


class MessagesUnavailable(Exception):
    """The notifier did not take the batch (away, busy, or refused it whole): try again later."""


class NotifierMessages:
    """`refused` counts the messages the notifier could not send (a phone it cannot read);
    `unavailable` is the exception the caller's jobs retry on."""

    def __init__(
        self,
        url: str,
        token_path: Path,
        timeout_s: float,
        *,
        refused: Counter,
        unavailable: type[Exception] = MessagesUnavailable,
    ):
        self.url = url.rstrip("/") + "/v1/messages"
        self._token = token_file(token_path)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))
        self._refused, self._unavailable = refused, unavailable

    def send(self, messages: Sequence[dict]) -> tuple[int, int]:
        queued = duplicates = 0
        for start in range(0, len(messages), MAX_BATCH):
            answer = self._post(list(messages[start : start + MAX_BATCH]))
            queued, duplicates = queued + answer["queued"], duplicates + answer["duplicates"]
        return queued, duplicates

    def _post(self, batch: list[dict]) -> dict:
        response = self._request(batch)
        if response.status_code == 422:
            # Messages the notifier cannot send (a phone it cannot read): left out, counted and
            # logged by index only, so one bad number never holds up the others.
            bad = _refused_indexes(response)
            if bad:
                self._refused.inc(len(bad))
                log.warning("messages refused by the notifier", fields={"count": len(bad)})
                batch = [m for i, m in enumerate(batch) if i not in bad]
                response = self._request(batch) if batch else None
                if response is None:
                    return {"queued": 0, "duplicates": 0}
        if response.status_code != 202:
            # Anything else (away, busy, the whole batch refused) stops the job, which is tried
            # again from this chunk; the notifier takes each message id once.
            raise self._unavailable(f"notifier answered {response.status_code}")
        return response.json()

    def _request(self, batch: list[dict]) -> httpx.Response:
        try:
            return self._client.post(
                self.url,
                json={"messages": batch},
                headers={"Authorization": f"Bearer {self._token.get()}"},
            )
        except (httpx.TransportError, OSError) as exc:
            raise self._unavailable(type(exc).__name__) from None

    def close(self) -> None:
        self._client.close()


def _refused_indexes(response: httpx.Response) -> set[int]:
    """The messages a validation problem names (`messages.<index>.<field>`)."""
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return set()
    found = set()
    for error in errors:
        match = _AT_FAULT.match(str(error.get("field", "")))
        if match:
            found.add(int(match.group(1)))
    return found
