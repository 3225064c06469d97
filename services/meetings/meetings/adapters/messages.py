"""Invitations and reminders handed to the notifier's lanes: no sending code of our own.

    POST {NOTIFIER_URL}/v1/messages   with this service's token (scope messages:send)
    {messages: [{message_id, appointment_id, booth_id, phone, channel, locale, text, lane}]}
    -> 202 {queued, duplicates}; 503 with Retry-After while its lanes are away

The notifier applies its screen, pacing and policy (quiet hours, the blackout) to each message,
and queues a message id once, so a batch sent again after a failure queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from meetings.ports import MessagesUnavailable
from shared.auth.keys import token_file

MAX_BATCH = 1000  # what the notifier takes in one request


class NotifierMessages:
    def __init__(self, url: str, token_path: Path, timeout_s: float):
        self.url = url.rstrip("/") + "/v1/messages"
        self._token = token_file(token_path)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))

    def send(self, messages: Sequence[dict]) -> tuple[int, int]:
        queued = duplicates = 0
        for start in range(0, len(messages), MAX_BATCH):
            answer = self._post(list(messages[start : start + MAX_BATCH]))
            queued, duplicates = queued + answer["queued"], duplicates + answer["duplicates"]
        return queued, duplicates

    def _post(self, batch: list[dict]) -> dict:
        try:
            response = self._client.post(
                self.url,
                json={"messages": batch},
                headers={"Authorization": f"Bearer {self._token.get()}"},
            )
        except (httpx.TransportError, OSError) as exc:
            raise MessagesUnavailable(type(exc).__name__) from None
        if response.status_code != 202:
            # Refused batches (4xx) are as unsendable later as now, but one bad message must not
            # drop a meeting's invitations silently: the job stops, logs, and is retried.
            raise MessagesUnavailable(f"notifier answered {response.status_code}")
        return response.json()

    def close(self) -> None:
        self._client.close()
