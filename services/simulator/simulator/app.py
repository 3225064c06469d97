"""The provider simulator's HTTP face.

    POST /whatsapp/v1/{sender}/messages   a WhatsApp message from one sending number
                                          (template or text)
    POST /sms/v1/messages                 an SMS under a registered DLT header and template
    POST /push/v1/messages                a push to the organisation's app (or its webhook)
    POST /bridge/v1/invites               an invitation call to an audio bridge
    POST /v1/batch                        many of the sends above in one request, each answered
                                          on its own
    POST /v1/replies                      make a recipient reply (an acknowledgement, or STOP)
    GET  /v1/messages?to=&idempotency_key=  what was accepted, newest first (tests read it)
    GET  /v1/stats                        counts of accepted, refused, duplicates, callbacks

Routes are `async def`: all state is in memory, and the thread pool a plain `def` would use costs
more than the work. Every send answers 200 `{"id": ...}`, 429 (per-sender rate), 400 (permanent) or
503 (transient), errors as `{"error": {"code", "message", "retryable"}}` the way providers shape
them. A repeated `Idempotency-Key` gets the first answer back and sends nothing. Accepted messages
are reported to SIMULATOR_CALLBACK_URL later, signed in the X-Provider-Signature header.

The batch endpoint is shaped like the Graph API's batch requests (which the WhatsApp Cloud API
sits on) and the many-recipient calls of SMS gateways: `{"requests": [{"path", "idempotency_key",
"body"}]}` in, `{"responses": [{"status", "body", "headers"}]}` out, in the same order. Each
request is decided exactly as if it had come alone (rate limit, failures, idempotency, its own
message id and signed status webhooks); a sender cannot send faster by batching.

A send may carry the sender's reference for its recipient (WhatsApp's `biz_opaque_callback_data`,
the SMS gateway's and the bridge's `reference`; a push is addressed by it): the notifier puts the
appointment id there. When the platform erases a person (person-erased, DPDP Act), the messages
kept for that appointment, and the status reports still owed on them, are dropped, as a provider
deletes its copies when the data fiduciary asks; the simulator reads the erasure topic for it.
"""

import asyncio
import heapq
import json
import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from shared.background import Background, consuming
from shared.events import types
from shared.http import create_app
from shared.kafka.consumer import EventConsumer
from shared.limits import BodyRules
from shared.logging import get_logger
from shared.topics import DEAD_LETTER, ERASURES
from simulator import provider as p
from simulator.secret import webhook_key
from simulator.settings import SimulatorSettings

log = get_logger(__name__)

Phone = Annotated[str, Field(pattern=p.E164.pattern)]


class Template(BaseModel):
    name: str
    language: str = "en"
    parameters: list[str] = []


Reference = Annotated[str | None, Field(max_length=512)]


class WhatsAppMessage(BaseModel):
    to: Phone
    type: str = Field(pattern="^(template|text)$")
    biz_opaque_callback_data: Reference = None
    template: Template | None = None
    text: str | None = Field(None, max_length=4096)


class SmsMessage(BaseModel):
    sender: str
    to: Phone
    text: str = Field(min_length=1, max_length=2000)
    dlt_entity_id: str
    dlt_template_id: str
    reference: Reference = None


class PushMessage(BaseModel):
    app: str
    to: str = Field(
        min_length=1, max_length=128
    )  # the app's id for the person (here the appointment id)
    title: str
    body: str
    link: str | None = None


class BridgeInvite(BaseModel):
    bridge: str  # the bridge's dial-in number: the sender
    to: Phone
    pin: str = Field(pattern=r"^\d{4,8}$")
    starts_at: datetime
    reference: Reference = None


class Reply(BaseModel):
    message_id: str | None = None  # the message answered; else `from_` and `channel` say who
    from_: Phone | None = Field(None, alias="from")
    channel: str = "whatsapp"
    text: str = Field(min_length=1, max_length=1000)


class BatchRequest(BaseModel):
    path: str = Field(max_length=256)
    idempotency_key: str | None = Field(None, max_length=128)
    body: dict[str, Any]


class Batch(BaseModel):
    requests: list[BatchRequest] = Field(min_length=1, max_length=1000)


@dataclass(frozen=True)
class Answer:
    """One send's answer: HTTP status, JSON body, headers (a batch carries them per request)."""

    status: int
    body: dict
    headers: dict[str, str] | None = None

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


class Provider:
    """The simulator's state: limits, decisions, what it accepted, and the reports it owes."""

    def __init__(self, settings: SimulatorSettings):
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.limits = p.TokenBucket(settings.rate_per_sender)
        self.fates = p.Fates(
            transient=settings.transient_failure_share,
            permanent=settings.permanent_failure_share,
            rng=self.rng,
        )
        self.reporting = p.Reporting(
            read_share=settings.read_share,
            read_before_delivered_share=settings.read_before_delivered_share,
            duplicate_share=settings.duplicate_share,
            undeliverable_share=settings.undeliverable_share,
            delivered_delay_s=tuple(ms / 1000 for ms in settings.delivered_delay_ms),
            read_delay_s=tuple(ms / 1000 for ms in settings.read_delay_ms),
        )
        self.key = webhook_key(settings)
        self.messages = p.Bounded(settings.messages_kept)  # id -> record
        self.answers = p.Bounded(settings.idempotency_kept)  # idempotency key -> message id
        self.stats: Counter[str] = Counter()
        self.per_sender: Counter[str] = Counter()
        self._due: list[tuple[float, int, dict]] = []  # (due, seq, status or inbound message)
        self._seq = 0
        self._task: asyncio.Task | None = None
        self._erasures: Background | None = None

    # --- sending ------------------------------------------------------------------------------

    def send(
        self,
        channel: str,
        sender: str,
        to: str,
        content: dict[str, Any],
        idempotency_key: str | None,
        check: p.Refusal | None,
    ) -> Answer:
        if idempotency_key and idempotency_key in self.answers:
            self.stats["duplicates"] += 1
            return Answer(200, {"id": self.answers[idempotency_key], "duplicate": True})
        wait = self.limits.take(f"{channel}:{sender}", time.monotonic())
        if wait:
            return self._refuse(
                p.Refusal(
                    429,
                    p.RATE_LIMITED,
                    f"{sender} exceeded {self.settings.rate_per_sender:g} messages/s",
                ),
                retry_after=wait,
            )
        refusal = check or self.fates.refusal(channel, to)
        if refusal is not None:
            return self._refuse(refusal)
        message_id = f"{channel[:2]}.{uuid.uuid4().hex}"
        if idempotency_key:
            self.answers[idempotency_key] = message_id
        self.messages[message_id] = {
            "id": message_id,
            "channel": channel,
            "sender": sender,
            "to": to,
            **content,
            "idempotency_key": idempotency_key,
            "accepted_at": time.time(),
        }
        self.stats[f"accepted:{channel}"] += 1
        self.stats["accepted"] += 1
        self.per_sender[f"{channel}:{sender}"] += 1
        for report in self.reporting.plan(message_id, time.monotonic(), self.rng):
            self._schedule(report.due, {"statuses": [self._status(report, channel, to)]})
        return Answer(200, {"id": message_id})

    def _refuse(self, refusal: p.Refusal, retry_after: float | None = None) -> Answer:
        self.stats[f"refused:{refusal.code}"] += 1
        headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
        body = {
            "error": {
                "code": refusal.code,
                "message": refusal.message,
                "retryable": refusal.retryable,
            }
        }
        return Answer(refusal.status, body, headers)

    @staticmethod
    def _status(report: p.Report, channel: str, to: str) -> dict:
        return {
            "message_id": report.message_id,
            "status": report.status,
            "channel": channel,
            "recipient": to,
            # stamped when the report is sent (formatting a time per message cost ~9% of the CPU)
            "timestamp": None,
            "error": {"code": report.error} if report.error else None,
        }

    # --- replies ------------------------------------------------------------------------------

    def reply(self, reply: Reply) -> dict:
        original = self.messages.get(reply.message_id) if reply.message_id else None
        if reply.message_id and original is None:
            return {}
        sender = original["to"] if original else reply.from_
        inbound = {
            "id": f"in.{uuid.uuid4().hex}",
            "from": sender,
            "channel": original["channel"] if original else reply.channel,
            "text": reply.text,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "context": {"message_id": reply.message_id} if original else None,
        }
        self.stats["replies"] += 1
        self._schedule(time.monotonic(), {"messages": [inbound]})
        return inbound

    # --- erasure ------------------------------------------------------------------------------

    def forget(self, references: set[str]) -> int:
        """Drop the messages sent for these references (appointment ids), with the status
        reports and replies still due on them; returns how many messages went."""
        gone = {
            message_id
            for message_id, record in self.messages.items()
            if record.get("reference") in references
        }
        for message_id in gone:
            del self.messages[message_id]
        self._due = [entry for entry in self._due if not _concerns(entry[2], gone)]
        heapq.heapify(self._due)
        self.stats["erased"] += len(gone)
        return len(gone)

    def honour_erasures(self, make_consumer) -> None:
        """Read person-erased events in a background thread; each is applied on the event loop,
        which owns the state, before its offset is committed."""
        loop = asyncio.get_running_loop()

        async def forget(references: set[str]) -> int:
            return self.forget(references)

        def on_event(event) -> None:
            if event.type == types.PERSON_ERASED:
                dropped = asyncio.run_coroutine_threadsafe(
                    forget({event.data["appointment_id"]}), loop
                ).result(30)
                log.info(
                    "erased person's messages dropped",
                    fields={"erasure_id": event.data["erasure_id"], "messages": dropped},
                )

        self._erasures = consuming("simulator-erasures", lambda: make_consumer(on_event))
        self._erasures.start()

    # --- reporting ----------------------------------------------------------------------------

    def _schedule(self, due: float, item: dict, attempt: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, {**item, "_attempt": attempt}))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._report_forever())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._erasures is not None:
            self._erasures.stop()

    async def _report_forever(self) -> None:
        interval = self.settings.callback_interval_ms / 1000
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.report_due(client)
                except Exception as exc:  # keep reporting whatever one batch did
                    log.warning("reporting failed", fields={"error_class": type(exc).__name__})

    async def report_due(self, client: httpx.AsyncClient) -> None:
        now = time.monotonic()
        due = []
        while self._due and self._due[0][0] <= now and len(due) < self.settings.callback_batch * 4:
            due.append(heapq.heappop(self._due)[2])
        for start in range(0, len(due), self.settings.callback_batch):
            await self._post(client, due[start : start + self.settings.callback_batch])

    async def _post(self, client: httpx.AsyncClient, items: list[dict]) -> None:
        stamp = datetime.now(timezone.utc).isoformat()
        payload = {"statuses": [], "messages": []}
        for item in items:
            for status in item.get("statuses", []):
                payload["statuses"].append({**status, "timestamp": stamp})
            payload["messages"].extend(item.get("messages", []))
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Provider-Signature": p.sign(self.key, body, int(time.time())),
        }
        try:
            response = await client.post(self.settings.callback_url, content=body, headers=headers)
            ok = response.status_code < 300
        except httpx.HTTPError:
            ok = False
        if ok:
            self.stats["callbacks"] += 1
            self.stats["callback_statuses"] += len(payload["statuses"])
            return
        self.stats["callback_failures"] += 1
        for item in items:  # try again later, backing off, like providers do
            attempt = item["_attempt"] + 1
            if attempt < self.settings.callback_attempts:
                self._schedule(time.monotonic() + min(2**attempt * 0.5, 30), item, attempt)
            else:
                self.stats["callbacks_abandoned"] += 1


def _concerns(item: dict, message_ids: set[str]) -> bool:
    """Whether a scheduled report (statuses) or reply (inbound messages) is about these messages."""
    return any(status["message_id"] in message_ids for status in item.get("statuses", ())) or any(
        (inbound.get("context") or {}).get("message_id") in message_ids
        for inbound in item.get("messages", ())
    )


def sends(provider: Provider):
    """Each send endpoint's decision from its validated body: one function per path, shared by
    the single and the batch endpoints."""
    settings = provider.settings

    def whatsapp(sender: str, message: WhatsAppMessage, idempotency_key: str | None) -> Answer:
        check = None
        if message.type == "template":
            if message.template is None or message.template.name not in settings.approved_templates:
                check = p.Refusal(
                    400, p.TEMPLATE_NOT_APPROVED, "the template is not approved for this business"
                )
        elif not message.text:
            check = p.Refusal(400, "131008", "text messages need a text")
        content = {
            "template": message.template.model_dump() if message.template else None,
            "text": message.text,
            "reference": message.biz_opaque_callback_data,
        }
        return provider.send("whatsapp", sender, message.to, content, idempotency_key, check)

    def sms(message: SmsMessage, idempotency_key: str | None) -> Answer:
        check = None
        if message.sender not in settings.sms_headers:
            check = p.Refusal(
                400, p.DLT_HEADER_UNREGISTERED, "the sender header is not registered on DLT"
            )
        elif message.dlt_template_id not in settings.dlt_templates:
            check = p.Refusal(
                400, p.DLT_TEMPLATE_MISMATCH, "the message matches no registered DLT template"
            )
        content = {
            "text": message.text,
            "dlt_template_id": message.dlt_template_id,
            "reference": message.reference,
        }
        return provider.send("sms", message.sender, message.to, content, idempotency_key, check)

    def push(message: PushMessage, idempotency_key: str | None) -> Answer:
        content = {
            "title": message.title,
            "text": message.body,
            "link": message.link,
            "reference": message.to,
        }
        return provider.send("app_push", message.app, message.to, content, idempotency_key, None)

    def bridge(invite: BridgeInvite, idempotency_key: str | None) -> Answer:
        content = {
            "pin": invite.pin,
            "starts_at": invite.starts_at.isoformat(),
            "reference": invite.reference,
        }
        return provider.send(
            "audio_bridge", invite.bridge, invite.to, content, idempotency_key, None
        )

    def one(request: BatchRequest) -> Answer:
        """A batch's request, routed by its path as the single endpoints are."""
        path, body, key = request.path, request.body, request.idempotency_key
        try:
            if (
                path.startswith("/whatsapp/v1/")
                and path.endswith("/messages")
                and path.count("/") == 4
            ):
                return whatsapp(path.split("/")[3], WhatsAppMessage.model_validate(body), key)
            if path == "/sms/v1/messages":
                return sms(SmsMessage.model_validate(body), key)
            if path == "/push/v1/messages":
                return push(PushMessage.model_validate(body), key)
            if path == "/bridge/v1/invites":
                return bridge(BridgeInvite.model_validate(body), key)
        except ValidationError as exc:
            return Answer(
                422,
                {
                    "error": {
                        "code": "invalid-request",
                        "message": str(exc.errors()[0]["msg"])[:200],
                        "retryable": False,
                    }
                },
            )
        return Answer(
            404,
            {
                "error": {
                    "code": "unknown-path",
                    "message": f"no such endpoint: {path[:64]}",
                    "retryable": False,
                }
            },
        )

    return whatsapp, sms, push, bridge, one


def _refusals(*statuses: int) -> dict[int, dict]:
    """The provider's own refusals as its real counterparts answer them (`{"error": {...}}`, not
    problem details)."""
    meaning = {
        400: "Refused for good (template, DLT header, recipient)",
        404: "Unknown message",
        429: "This sender exceeded its rate; see Retry-After",
        503: "Temporary error, try again later",
    }
    error = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "retryable": {"type": "boolean"},
                },
            }
        },
    }
    return {
        status: {"description": meaning[status], "content": {"application/json": {"schema": error}}}
        for status in statuses
    }


SEND_REFUSALS = _refusals(400, 429, 503)


def routes(provider: Provider) -> APIRouter:
    router = APIRouter(tags=["provider"])
    whatsapp, sms, push, bridge, one = sends(provider)
    IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]

    @router.post("/whatsapp/v1/{sender}/messages", responses=SEND_REFUSALS)
    async def whatsapp_message(
        sender: str, message: WhatsAppMessage, idempotency_key: IdempotencyKey = None
    ):
        return whatsapp(sender, message, idempotency_key).response()

    @router.post("/sms/v1/messages", responses=SEND_REFUSALS)
    async def sms_message(message: SmsMessage, idempotency_key: IdempotencyKey = None):
        return sms(message, idempotency_key).response()

    @router.post("/push/v1/messages", responses=SEND_REFUSALS)
    async def push_message(message: PushMessage, idempotency_key: IdempotencyKey = None):
        return push(message, idempotency_key).response()

    @router.post("/bridge/v1/invites", responses=SEND_REFUSALS)
    async def bridge_invite(invite: BridgeInvite, idempotency_key: IdempotencyKey = None):
        return bridge(invite, idempotency_key).response()

    @router.post("/v1/batch")
    async def batch(body: Batch):
        provider.stats["batches"] += 1
        answers = [one(request) for request in body.requests]
        # A response object, not a dict: FastAPI's encoder walking every answer cost ~12% of the
        # CPU.
        return JSONResponse(
            {
                "responses": [
                    {"status": a.status, "body": a.body, "headers": a.headers or {}}
                    for a in answers
                ]
            }
        )

    @router.post("/v1/replies", responses=_refusals(404))
    async def reply(body: Reply):
        inbound = provider.reply(body)
        if not inbound:
            return JSONResponse(
                {"error": {"code": "unknown-message", "message": "no such message"}},
                status_code=404,
            )
        return {"id": inbound["id"]}

    @router.get("/v1/messages")
    async def messages(
        to: str | None = None,
        idempotency_key: str | None = None,
        channel: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ):
        found = []
        for record in reversed(provider.messages.values()):
            if (
                (to is None or record["to"] == to)
                and (channel is None or record["channel"] == channel)
                and (idempotency_key is None or record["idempotency_key"] == idempotency_key)
            ):
                found.append(record)
                if len(found) == limit:
                    break
        return {"messages": found}

    @router.get("/v1/stats")
    async def stats():
        return {
            "stats": dict(provider.stats),
            "per_sender": dict(provider.per_sender),
            "pending_reports": len(provider._due),
        }

    return router


BATCH_MAX_BYTES = 16 * 1024 * 1024  # a batch of long messages in many scripts


def erasure_consumer(settings: SimulatorSettings, handler) -> EventConsumer:
    """Every simulator reads every erasure (its messages live in its own memory), so each process
    is a group of its own, from the newest: what it held before it started is gone anyway."""
    return EventConsumer(
        settings.kafka_bootstrap,
        f"simulator-erasures-{uuid.uuid4().hex[:12]}",
        [settings.topic_namespace + ERASURES.name],
        handler,
        dead_letter_topic=settings.topic_namespace + DEAD_LETTER.name,
        config={"auto.offset.reset": "latest"},
    )


def create_simulator_app(settings: SimulatorSettings) -> FastAPI:
    provider = Provider(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per callback is noise

    def start() -> None:
        provider.start()
        if settings.honour_erasures:
            provider.honour_erasures(lambda handler: erasure_consumer(settings, handler))

    # A provider's endpoints take its API key, not our bearer tokens, and batches of many messages.
    app = create_app(
        service=settings.service_name,
        settings=settings,
        checks={},
        routers=[routes(provider)],
        on_startup=start,
        on_shutdown=provider.stop,
        bodies=BodyRules(json_max_bytes=BATCH_MAX_BYTES, token=False),
    )
    app.state.provider = provider
    return app


app = create_simulator_app(SimulatorSettings())
