"""One adapter per channel, all behind the same interface: `sender(task)` names the sending number
(or header, app, bridge) and `send(...)` makes the provider request and classifies the answer.

Providers answer the same way whatever the channel: 2xx with a message id (accepted), 429 or 5xx
or no answer (transient: retry later), any other 4xx (permanent: this channel will never take
it). Every request carries the delivery id as Idempotency-Key, so a provider that got a request
whose answer was lost does not send it twice when it is retried, and the recipient's appointment
id as the provider's own reference field, by which an erased person's messages are found there.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Histogram

from notifier.adapters.http import Answer, Batches, CallFailed
from notifier.domain.messages import WHOLE_TEXTS, Message
from notifier.domain.pacing import Pacer
from notifier.domain.tasks import OTP, Task
from notifier.settings import NotifierSettings

ACCEPTED, TRANSIENT, PERMANENT = "accepted", "transient", "permanent"

PROVIDER_LATENCY = Histogram(
    "sangathan_notifier_provider_latency_seconds",
    "One provider request, from sent to answered (or failed), by channel",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(frozen=True)
class Outcome:
    kind: str
    provider_id: str | None = None
    code: str | None = None
    retry_after_s: float | None = None


class Channel(Protocol):
    name: str

    def pacer(self, task: Task) -> Pacer: ...

    def sender(self, task: Task, phone_hash: str, salt: int = 0) -> str: ...

    async def send(self, client: Batches, task: Task, message: Message, sender: str) -> Outcome: ...


class HttpChannel:
    name = "?"

    def __init__(self, settings: NotifierSettings, pacer: Pacer, otp_pacer: Pacer | None = None):
        self.settings = settings
        self._pacer, self._otp_pacer = pacer, otp_pacer or pacer
        key = settings.provider_api_key
        self.headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}

    def pacer(self, task: Task) -> Pacer:
        return self._otp_pacer if task.send == OTP else self._pacer

    def sender(self, task: Task, phone_hash: str, salt: int = 0) -> str:
        return self.pacer(task).sender_for(phone_hash, salt)

    async def _post(self, client: Batches, path: str, body: dict, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            answer = await client.post(
                path, body, {**self.headers, "Idempotency-Key": task.delivery_id}
            )
        except CallFailed as exc:
            return Outcome(TRANSIENT, code=str(exc)[:64])
        finally:
            PROVIDER_LATENCY.labels(self.name).observe(time.perf_counter() - started)
        if answer.status < 300:
            try:
                return Outcome(ACCEPTED, provider_id=str(answer.json()["id"]))
            except (ValueError, KeyError, TypeError):
                return Outcome(
                    TRANSIENT, code="BAD_ANSWER"
                )  # the Idempotency-Key makes a retry safe
        code = _error_code(answer)
        if answer.status == 429 or answer.status >= 500:
            return Outcome(TRANSIENT, code=code, retry_after_s=_retry_after(answer))
        return Outcome(PERMANENT, code=code)


class WhatsApp(HttpChannel):
    name = "whatsapp"

    async def send(self, client, task, message, sender):
        templates = self.settings.whatsapp_templates
        if message.kind in WHOLE_TEXTS:
            parameters = [message.body]
        else:
            parameters = [message.title, message.body, message.link or ""]
        body = {
            "to": task.phone,
            "type": "template",
            "biz_opaque_callback_data": task.recipient_id,
            "template": {
                "name": templates[message.kind],
                "language": message.language,
                "parameters": parameters,
            },
        }
        return await self._post(client, f"/whatsapp/v1/{sender}/messages", body, task)


class Sms(HttpChannel):
    name = "sms"

    async def send(self, client, task, message, sender):
        body = {
            "sender": sender,
            "to": task.phone,
            "text": message.sms_text(),
            "reference": task.recipient_id,
            "dlt_entity_id": self.settings.dlt_entity_id,
            "dlt_template_id": self.settings.dlt_templates[message.kind],
        }
        return await self._post(client, "/sms/v1/messages", body, task)


class AppPush(HttpChannel):
    """A push to the organisation's app; `webhook` is the same call to the app's webhook
    endpoint."""

    name = "app_push"

    async def send(self, client, task, message, sender):
        body = {
            "app": sender,
            "to": task.recipient_id,
            "title": message.title or "Sangathan",
            "body": message.body,
            "link": message.link,
        }
        return await self._post(client, "/push/v1/messages", body, task)


class Webhook(AppPush):
    name = "webhook"


class AudioBridge(HttpChannel):
    """An invitation call to the directive's audio bridge; the PIN is derived from the directive."""

    name = "audio_bridge"

    async def send(self, client, task, message, sender):
        from datetime import datetime, timezone

        subject = task.directive_id or task.otp_request_id or task.delivery_id
        pin = f"{int(hashlib.sha256(subject.encode()).hexdigest(), 16) % 10**6:06d}"
        body = {
            "bridge": sender,
            "to": task.phone,
            "pin": pin,
            "starts_at": datetime.now(timezone.utc).isoformat(),
            "reference": task.recipient_id,
        }
        return await self._post(client, "/bridge/v1/invites", body, task)


def channels(settings: NotifierSettings) -> dict[str, HttpChannel]:
    push = Pacer([settings.push_app], settings.push_rate)
    return {
        "whatsapp": WhatsApp(settings, Pacer(settings.whatsapp_numbers, settings.whatsapp_rate)),
        "sms": Sms(
            settings,
            Pacer(settings.sms_headers, settings.sms_rate),
            Pacer(settings.sms_otp_headers, settings.sms_rate),
        ),
        "app_push": AppPush(settings, push),
        "webhook": Webhook(settings, Pacer([f"{settings.push_app}-webhook"], settings.push_rate)),
        "audio_bridge": AudioBridge(settings, Pacer(settings.bridge_numbers, settings.bridge_rate)),
    }


def _error_code(answer: Answer) -> str:
    try:
        code = str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = f"HTTP_{answer.status}"
    return (
        "".join(char for char in code if char.isalnum() or char in "_.:-")[:64]
        or f"HTTP_{answer.status}"
    )


def _retry_after(answer: Answer) -> float | None:
    try:
        return float(answer.headers.get("retry-after", ""))
    except ValueError:
        return None
