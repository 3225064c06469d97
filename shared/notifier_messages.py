"""The notifier's calls for other services: per-recipient texts and escalations to units' offices,
handed to its lanes, so no service has sending code of its own.

    POST {NOTIFIER_URL}/v1/messages     with the caller's token (scope messages:send)
    {messages: [{message_id, appointment_id, booth_id, phone, channel, locale, text, lane}]}
    POST {NOTIFIER_URL}/v1/escalations  the same token
    {escalations: [{message_id, unit_id, text}]}
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

_AT_FAULT = re.compile(r"^(?:body\.)?(?:messages|escalations)\.(\d+)\.")
MAX_BATCH = 1000  # what the notifier takes in one request


class MessagesUnavailable(Exception):
    """The notifier did not queue the batch (away, busy, refused it whole): try again later."""


class NotifierMessages:
    """`refused` counts messages the notifier refused as unsendable (a phone it cannot read)."""

    def __init__(self, url: str, token_path: Path, timeout_s: float, *, refused: Counter):
        self.base_url = url.rstrip("/")
        self.refused = refused
        self._token = token_file(token_path)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))

    def send(self, messages: Sequence[dict]) -> tuple[int, int]:
        """(queued, duplicates) of per-recipient messages."""
        return self._in_batches("messages", messages)

    def escalate(self, escalations: Sequence[dict]) -> tuple[int, int]:
        """(queued, duplicates) of escalations to units' offices."""
        return self._in_batches("escalations", escalations)

    def _in_batches(self, kind: str, items: Sequence[dict]) -> tuple[int, int]:
        queued = duplicates = 0
        for start in range(0, len(items), MAX_BATCH):
            answer = self._post(kind, list(items[start : start + MAX_BATCH]))
            queued, duplicates = queued + answer["queued"], duplicates + answer["duplicates"]
        return queued, duplicates

    def _post(self, kind: str, batch: list[dict]) -> dict:
        response = self._request(kind, batch)
        if response.status_code == 422:
            # Messages the notifier cannot send (a phone it cannot read): left out, counted and
            # logged by index only, so one bad number never holds up the others.
            bad = _refused_indexes(response)
            if bad:
                self.refused.inc(len(bad))
                log.warning(f"{kind} refused by the notifier", fields={"count": len(bad)})
                batch = [m for i, m in enumerate(batch) if i not in bad]
                response = self._request(kind, batch) if batch else None
                if response is None:
                    return {"queued": 0, "duplicates": 0}
        if response.status_code != 202:
            # Anything else (away, busy, the whole batch refused) stops the job, which is tried
            # again from this batch; the notifier takes each message id once.
            raise MessagesUnavailable(f"notifier answered {response.status_code}")
        return response.json()

    def _request(self, kind: str, batch: list[dict]) -> httpx.Response:
        try:
            return self._client.post(
                f"{self.base_url}/v1/{kind}",
                json={kind: batch},
                headers={"Authorization": f"Bearer {self._token.get()}"},
            )
        except (httpx.TransportError, OSError) as exc:
            raise MessagesUnavailable(type(exc).__name__) from None

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
