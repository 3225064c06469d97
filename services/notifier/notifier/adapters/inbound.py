"""Inbound replies' two calls, with the notifier's own service token: the appointments service
says whose phone sent a reply (POST /internal/appointees/search, the phone in the body), and the
reports service reads the reply as a booth's answer (POST /internal/replies, no phone). Either
away raises InboundUnavailable: the webhook answers 503 and the provider calls again."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from shared.auth.keys import token_file


class InboundUnavailable(Exception):
    """A service a reply needs did not answer; the reason names the call, never the data."""


@dataclass(frozen=True)
class Sender:
    """A verified appointment of the phone a reply came from."""

    appointment_id: str
    booth_id: str
    role: str
    locale: str
    channel: str


@dataclass(frozen=True)
class ReplyRead:
    """The reports service's reading of a reply, and what to say back (None: nothing)."""

    outcome: str
    message: dict[str, str] | None
    appointment_id: str | None
    booth_id: str | None


class HttpInbound:
    def __init__(self, appointments_url: str, reports_url: str, token_path: Path, timeout_s: float):
        self.appointments_url = appointments_url.rstrip("/")
        self.reports_url = reports_url.rstrip("/")
        self._token = token_file(token_path)
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))

    def senders(self, phone: str) -> list[Sender]:
        found = self._post(f"{self.appointments_url}/internal/appointees/search", {"phone": phone})
        return [Sender(**row) for row in found["appointees"]]

    def hand_over(self, reply_id: str, channel: str, text: str, senders: list[Sender]) -> ReplyRead:
        appointees = [
            {k: v for k, v in asdict(s).items() if k in ("appointment_id", "booth_id", "role")}
            for s in senders
        ]
        body = {"reply_id": reply_id, "channel": channel, "text": text, "appointees": appointees}
        read = self._post(f"{self.reports_url}/internal/replies", body)
        return ReplyRead(
            read["outcome"], read.get("message"), read.get("appointment_id"), read.get("booth_id")
        )

    def _post(self, url: str, body: dict) -> dict:
        headers = {"Authorization": f"Bearer {self._token.get()}"}
        try:
            answer = self._client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise InboundUnavailable(f"{type(exc).__name__} calling {url}") from None
        if answer.status_code != 200:
            raise InboundUnavailable(f"{url} answered {answer.status_code}")
        return answer.json()

    def close(self) -> None:
        self._client.close()
