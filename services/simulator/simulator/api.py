"""The provider simulator's HTTP face.

    POST /whatsapp/v1/{sender}/messages   a WhatsApp message from one sending number
                                          (template or text)
    POST /sms/v1/messages                 an SMS under a registered DLT header and template
    POST /push/v1/messages                a push to the organisation's app (or its webhook)
    POST /bridge/v1/invites               an invitation call to an audio bridge
    POST /v1/batch                        many of the sends above in one request, each answered
                                          on its own
    POST /v1/replies                      make a recipient reply (an acknowledgement, STOP, or a
                                          short form's answers "1 3 250"): an inbound-message
                                          webhook follows, once or (like receipts) twice
    GET  /v1/messages?to=&idempotency_key=  what was accepted, newest first (tests read it)
    GET  /v1/stats                        counts of accepted, refused, duplicates, callbacks

The conference provider of docs/meetings.md (bridges, dial-out, mute, play, kick, end,
participants, the dev dial-in and the video room) is under /conference/v1; its errors are problem
details, and its webhooks go to each bridge's `status_callback` (simulator.conference says how the
simulated calls behave).

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

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from shared.http import create_app
from shared.limits import BodyRules
from shared.problems import ProblemError, problems
from simulator import commands
from simulator import domain as d
from simulator.bootstrap import Adapters, bootstrap
from simulator.conference import ConferenceRefusal
from simulator.handlers import Provider, handle, participants
from simulator.settings import SimulatorSettings

Phone = Annotated[str, Field(pattern=d.E164.pattern)]


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
    """A phone replies: to the message named (its number and channel), else as `from` on
    `channel`."""

    message_id: str | None = Field(None, description="the message answered, if any")
    from_: Phone | None = Field(None, alias="from", description="the replying phone (E.164)")
    channel: Literal["sms", "whatsapp"] = "whatsapp"
    text: str = Field(min_length=1, max_length=1000)
    twice: bool = Field(False, description="deliver the webhook twice, as providers may")


class ReplyMade(BaseModel):
    id: str = Field(description="the provider's message id of the inbound message")
    received_at: datetime


class InboundMessage(BaseModel):
    """One inbound message as the webhook carries it (a duplicate has the same id)."""

    id: str
    from_: str = Field(alias="from", description="the sender's phone, E.164")
    channel: Literal["sms", "whatsapp"]
    text: str
    received_at: datetime
    timestamp: datetime = Field(description="the same as received_at (older receivers)")
    context: dict[str, str] | None = Field(None, description="{message_id} of the message answered")


class ProviderWebhook(BaseModel):
    """What the simulator POSTs to SIMULATOR_CALLBACK_URL, signed in X-Provider-Signature
    (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`, shared/sending/signatures.py)."""

    statuses: list[dict[str, Any]] = Field(description="delivery reports of messages sent")
    messages: list[InboundMessage] = Field(description="inbound messages (replies)")


webhooks = APIRouter()


@webhooks.post("{$settings.SIMULATOR_CALLBACK_URL}", status_code=200)
def inbound_message_webhook(
    body: ProviderWebhook,
    signature: Annotated[str, Header(alias="X-Provider-Signature")],
):
    """The signed webhook a reply (and any delivery report) is called back with."""


class BatchRequest(BaseModel):
    path: str = Field(max_length=256)
    idempotency_key: str | None = Field(None, max_length=128)
    body: dict[str, Any]


class Batch(BaseModel):
    requests: list[BatchRequest] = Field(min_length=1, max_length=1000)


def response(answer: d.Answer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def whatsapp_send(sender: str, message: WhatsAppMessage, key: str | None) -> commands.SendWhatsApp:
    template = message.template.model_dump() if message.template else None
    return commands.SendWhatsApp(
        sender,
        message.to,
        message.type,
        template,
        message.text,
        message.biz_opaque_callback_data,
        key,
    )


def sms_send(message: SmsMessage, key: str | None) -> commands.SendSms:
    return commands.SendSms(
        message.sender, message.to, message.text, message.dlt_template_id, message.reference, key
    )


def push_send(message: PushMessage, key: str | None) -> commands.SendPush:
    return commands.SendPush(
        message.app, message.to, message.title, message.body, message.link, key
    )


def bridge_invite_of(invite: BridgeInvite, key: str | None) -> commands.InviteToBridge:
    return commands.InviteToBridge(
        invite.bridge, invite.to, invite.pin, invite.starts_at, invite.reference, key
    )


def batch_command(request: BatchRequest) -> commands.Send:
    """A batch's request as the command its single endpoint would make (ValidationError if its
    body is not what that endpoint takes, LookupError if no endpoint has its path)."""
    path, body, key = request.path, request.body, request.idempotency_key
    if path.startswith("/whatsapp/v1/") and path.endswith("/messages") and path.count("/") == 4:
        return whatsapp_send(path.split("/")[3], WhatsAppMessage.model_validate(body), key)
    if path == "/sms/v1/messages":
        return sms_send(SmsMessage.model_validate(body), key)
    if path == "/push/v1/messages":
        return push_send(PushMessage.model_validate(body), key)
    if path == "/bridge/v1/invites":
        return bridge_invite_of(BridgeInvite.model_validate(body), key)
    raise LookupError(path)


def batch_answer(provider: Provider, request: BatchRequest) -> d.Answer:
    """One request of a batch, decided exactly as if it had come alone."""
    try:
        return handle(provider, batch_command(request))
    except ValidationError as exc:
        error = {
            "code": "invalid-request",
            "message": str(exc.errors()[0]["msg"])[:200],
            "retryable": False,
        }
    except LookupError:
        error = {
            "code": "unknown-path",
            "message": f"no such endpoint: {request.path[:64]}",
            "retryable": False,
        }
    return d.Answer(422 if error["code"] == "invalid-request" else 404, {"error": error})


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
    IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]

    @router.post("/whatsapp/v1/{sender}/messages", responses=SEND_REFUSALS)
    async def whatsapp_message(
        sender: str, message: WhatsAppMessage, idempotency_key: IdempotencyKey = None
    ):
        return response(handle(provider, whatsapp_send(sender, message, idempotency_key)))

    @router.post("/sms/v1/messages", responses=SEND_REFUSALS)
    async def sms_message(message: SmsMessage, idempotency_key: IdempotencyKey = None):
        return response(handle(provider, sms_send(message, idempotency_key)))

    @router.post("/push/v1/messages", responses=SEND_REFUSALS)
    async def push_message(message: PushMessage, idempotency_key: IdempotencyKey = None):
        return response(handle(provider, push_send(message, idempotency_key)))

    @router.post("/bridge/v1/invites", responses=SEND_REFUSALS)
    async def bridge_invite(invite: BridgeInvite, idempotency_key: IdempotencyKey = None):
        return response(handle(provider, bridge_invite_of(invite, idempotency_key)))

    @router.post("/v1/batch")
    async def batch(body: Batch):
        provider.stats["batches"] += 1
        answers = [batch_answer(provider, request) for request in body.requests]
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

    @router.post(
        "/v1/replies",
        response_model=ReplyMade,
        responses=_refusals(404) | problems(422),
        callbacks=webhooks.routes,
    )
    async def reply(body: Reply):
        if body.message_id is None and body.from_ is None:
            raise ProblemError(422, "no-sender", "Name the message answered or the phone")
        command = commands.MakeReply(
            body.text, body.message_id, body.from_, body.channel, body.twice
        )
        inbound = handle(provider, command)
        if not inbound:
            return JSONResponse(
                {"error": {"code": "unknown-message", "message": "no such message"}},
                status_code=404,
            )
        return {"id": inbound["id"], "received_at": inbound["received_at"]}

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
            "pending_reports": provider.pending_reports,
            "conference": {
                **provider.conferences.counts,
                "pending_webhooks": provider.conferences.pending,
            },
        }

    return router


Ref = Annotated[str, Field(min_length=1, max_length=128)]


class BridgeCreate(BaseModel):
    bridge_ref: Ref
    kind: Literal["audio", "video"] = "audio"
    capacity: int = Field(ge=1)
    listen_only: bool = False
    record: bool = False
    parent_bridge_id: str | None = Field(None, max_length=64)
    status_callback: str | None = Field(None, max_length=512)
    pin: str | None = Field(None, pattern=r"^\d{4,8}$")


class CallCreate(BaseModel):
    call_ref: Ref
    to: Phone
    caller_id: str | None = Field(None, max_length=32)
    muted: bool = True
    ring_timeout_s: float | None = Field(None, gt=0, le=120)
    participant_ref: Ref | None = None


class Mute(BaseModel):
    muted: bool
    call_id: str | None = Field(None, max_length=64)


class Play(BaseModel):
    recording_url: str = Field(min_length=1, max_length=512)


class DialInCall(BaseModel):
    pin: str = Field(pattern=r"^\d{4,8}$")
    from_: Phone = Field(alias="from")


def carried_out(provider: Provider, command: commands.Command):
    """The handler's answer, or the provider's refusal as problem details."""
    try:
        return handle(provider, command)
    except ConferenceRefusal as refusal:
        headers = {}
        if refusal.retry_after_s:
            headers["Retry-After"] = str(max(1, math.ceil(refusal.retry_after_s)))
        raise ProblemError(
            refusal.status, refusal.kind, refusal.title, headers=headers, **refusal.extra
        ) from None


def conference_routes(provider: Provider) -> APIRouter:
    router = APIRouter(prefix="/conference/v1", tags=["conference"])

    @router.post(
        "/bridges",
        status_code=201,
        responses={200: {"description": "The bridge this bridge_ref already made"}}
        | problems(404, 409, 422),
    )
    async def create_bridge(body: BridgeCreate, response: Response):
        answer, made = carried_out(provider, commands.CreateBridge(**body.model_dump()))
        response.status_code = 201 if made else 200
        return answer

    @router.post("/bridges/{bridge_id}/calls", status_code=202, responses=problems(409, 429))
    async def dial_out(bridge_id: str, body: CallCreate):
        return carried_out(provider, commands.DialOut(bridge_id, **body.model_dump()))

    @router.post("/bridges/{bridge_id}/mute", status_code=204, responses=problems(404, 409))
    async def mute(bridge_id: str, body: Mute):
        carried_out(provider, commands.MuteBridge(bridge_id, body.muted, body.call_id))
        return Response(status_code=204)

    @router.post("/bridges/{bridge_id}/play", status_code=204, responses=problems(404, 409))
    async def play(bridge_id: str, body: Play):
        carried_out(provider, commands.PlayRecording(bridge_id, body.recording_url))
        return Response(status_code=204)

    @router.delete(
        "/bridges/{bridge_id}/calls/{call_id}", status_code=204, responses=problems(404, 409)
    )
    async def kick(bridge_id: str, call_id: str):
        carried_out(provider, commands.KickCall(bridge_id, call_id))
        return Response(status_code=204)

    @router.post("/bridges/{bridge_id}/end", status_code=204, responses=problems(404))
    async def end(bridge_id: str):
        carried_out(provider, commands.EndBridge(bridge_id))
        return Response(status_code=204)

    @router.get("/bridges/{bridge_id}/participants", responses=problems(404))
    async def list_participants(bridge_id: str):
        try:
            return participants(provider, bridge_id)
        except ConferenceRefusal as refusal:
            raise ProblemError(refusal.status, refusal.kind, refusal.title) from None

    @router.post("/dev/dial-in", status_code=202, responses=problems(404, 409))
    async def late_joiner(body: DialInCall):
        return carried_out(provider, commands.DialIn(body.pin, body.from_))

    @router.get("/rooms/{bridge_id}", responses=problems(404, 409))
    async def room(bridge_id: str, participant_ref: Ref, token: str | None = None):
        """The video room an invitee's join link opens: they are in it (the token is the
        meetings service's business, not the provider's)."""
        return carried_out(provider, commands.JoinRoom(bridge_id, participant_ref))

    return router


BATCH_MAX_BYTES = 16 * 1024 * 1024  # a batch of long messages in many scripts


def create_simulator_app(adapters: Adapters) -> FastAPI:
    # A provider's endpoints take its API key, not our bearer tokens, and batches of many messages.
    app = create_app(
        service=adapters.settings.service_name,
        settings=adapters.settings,
        checks={},
        routers=[routes(adapters.provider), conference_routes(adapters.provider)],
        on_startup=adapters.start,
        on_shutdown=adapters.stop,
        bodies=BodyRules(json_max_bytes=BATCH_MAX_BYTES, token=False),
    )
    app.state.provider = adapters.provider
    return app


app = create_simulator_app(bootstrap(SimulatorSettings()))
