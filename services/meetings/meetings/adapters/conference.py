"""The conference provider over HTTP, as docs/meetings.md fixes the protocol (the simulator on
8005 speaks it). Every request carries the provider's API key; an answer the provider could not
give (connection refused, timeout, 5xx) is ProviderUnavailable, so the caller retries the whole
step later (bridge refs and call refs make a retry create and dial nothing twice). Phones go in
request bodies only: nothing here logs a body."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx

from meetings.conference import ProviderEvent
from meetings.ports import BadWebhook, ProviderPaced, ProviderRefused, ProviderUnavailable
from shared.sending.signatures import BadSignature, check

EVENT_TYPES = frozenset(
    {
        "bridge.started",
        "bridge.ended",
        "call.ringing",
        "call.answered",
        "call.failed",
        "participant.joined",
        "participant.left",
        "dtmf",
        "recording.ready",
    }
)


class HttpConferenceProvider:
    def __init__(
        self, base_url: str, api_key: str | None, webhook_key: bytes, timeout_s: float = 10.0
    ):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/conference/v1", headers=headers, timeout=timeout_s
        )
        self.webhook_key = webhook_key

    def create_bridge(self, *, bridge_ref, kind, capacity, listen_only, status_callback,
                      parent_bridge_id=None, pin=None, record=False) -> dict:  # fmt: skip
        body = {
            "bridge_ref": bridge_ref,
            "kind": kind,
            "capacity": capacity,
            "listen_only": listen_only,
            "record": record,
            "parent_bridge_id": parent_bridge_id,
            "status_callback": status_callback,
            "pin": pin,
        }
        return self._call("POST", "/bridges", body).json()

    def dial_out(self, bridge_id, *, call_ref, to, participant_ref, muted, ring_timeout_s,
                 caller_id=None) -> str:  # fmt: skip
        body = {
            "call_ref": call_ref,
            "to": to,
            "caller_id": caller_id,
            "muted": muted,
            "ring_timeout_s": ring_timeout_s,
            "participant_ref": participant_ref,
        }
        return self._call("POST", f"/bridges/{bridge_id}/calls", body).json()["call_id"]

    def mute(self, bridge_id: str, muted: bool, call_id: str | None = None) -> None:
        self._call("POST", f"/bridges/{bridge_id}/mute", {"muted": muted, "call_id": call_id})

    def play(self, bridge_id: str, recording_url: str) -> None:
        self._call("POST", f"/bridges/{bridge_id}/play", {"recording_url": recording_url})

    def kick(self, bridge_id: str, call_id: str) -> None:
        self._call("DELETE", f"/bridges/{bridge_id}/calls/{call_id}")

    def end(self, bridge_id: str) -> None:
        self._call("POST", f"/bridges/{bridge_id}/end")

    def participants(self, bridge_id: str) -> list[dict]:
        return self._call("GET", f"/bridges/{bridge_id}/participants").json()["participants"]

    def parse_webhook(self, body: bytes, signature: str | None) -> ProviderEvent:
        try:
            check(self.webhook_key, body, signature, time.time())
        except BadSignature as exc:
            raise BadWebhook(str(exc)) from None
        try:
            data = json.loads(body)
            if data["type"] not in EVENT_TYPES:
                raise BadWebhook("unknown event type")
            return ProviderEvent(
                event_id=str(data["event_id"]),
                type=data["type"],
                bridge_id=str(data["bridge_id"]),
                occurred_at=datetime.fromisoformat(data["occurred_at"]),
                call_id=data.get("call_id"),
                participant_ref=data.get("participant_ref"),
                reason=data.get("reason"),
                digits=data.get("digits"),
                seconds=data.get("seconds"),
                from_hash=data.get("from_hash"),
            )
        except (ValueError, KeyError, TypeError):
            raise BadWebhook("not a provider event") from None

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        try:
            answer = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(type(exc).__name__) from None
        if answer.status_code == 429:
            raise ProviderPaced(float(answer.headers.get("Retry-After", "1")))
        if answer.status_code >= 500:
            raise ProviderUnavailable(f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            problem = _problem(answer)
            kind = str(problem.get("type", "")).rsplit("/", 1)[-1] or "refused"
            raise ProviderRefused(answer.status_code, kind, problem)
        return answer


def _problem(answer: httpx.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
