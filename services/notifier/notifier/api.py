"""HTTP entrypoint of the notifier: translates requests to commands and outcomes to answers.

POST /v1/directives                     an organiser issues a directive in their jurisdiction
GET  /v1/directives/{id}                the directive and its state
POST /v1/directives/{id}/cancel         stop it before it is fully sent
GET  /v1/directives/{id}/status         targeted/sent/delivered/read/acknowledged/failed, per
                                        state and district; for a recurring directive its rounds
                                        (ran, next due)
GET  /v1/directives/{id}/status/stream  the same, live (Server-Sent Events)
GET  /v1/directives/{id}/failures       recipients whose every channel failed
GET  /v1/directives/{id}/booths?missing=reached|acknowledged
                                        booths not yet reached or acknowledged
POST /v1/otp-deliveries                 the OTP service hands over a code (scope messages:send)
POST /v1/messages                       a service's per-recipient messages, up to 1,000 a request
                                        (scope messages:send): a meeting's invitations
POST /v1/escalations                    a service's word to units' offices by the app webhook, as
                                        a directive's escalations (scope messages:send): silent
                                        booths of a report, told to their mandal
POST /v1/webhooks/provider              signed provider receipts and replies
GET  /a/{token}, POST /a/{token}        a recipient's acknowledgement link
"""

import asyncio
import html
import json
import time
import uuid
from datetime import datetime
from typing import Annotated, Literal

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from notifier.adapters.events import EventsUnavailable
from notifier.adapters.inbound import InboundUnavailable
from notifier.bootstrap import Adapters, bootstrap
from notifier.commands import (
    Acknowledge,
    CancelDirective,
    IssueDirective,
    SendMessages,
    ServiceMessage,
)
from notifier.domain import acks
from notifier.domain.directives import ROUND_DONE, Directive
from notifier.domain.tasks import ESCALATION, NORMAL, OTP, PERSONAL, URGENT
from notifier.handlers import directives, receipts, service_messages
from notifier.handlers.ports import NotFound, Refused
from notifier.settings import NotifierSettings
from shared.audience import require_audience
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.http import create_app
from shared.kafka.producer import DeliveryError
from shared.limits import WEBHOOK_MAX_BYTES, BodyRules
from shared.logging import get_logger
from shared.orgtree.levels import booth_path
from shared.phones import to_e164
from shared.problems import ProblemError, problems
from shared.sending import signatures

log = get_logger(__name__)

ISSUE_SCOPE = "directives:issue"
SEND_SCOPE = "messages:send"
_IDS = uuid.UUID("e1f4a6c2-9d3b-4b7e-8a51-6c0d2f9e3b74")

UnitId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Role = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,47}$")]
ChannelName = Literal["whatsapp", "sms", "app_push", "webhook", "audio_bridge"]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-[A-Z]{2})?$")]
MESSAGES_PER_REQUEST = 1000


def _texts(value: dict[str, str], limit: int) -> dict[str, str]:
    missing = {"en", "hi"} - set(value)
    if missing:
        raise ValueError(
            f"needs {' and '.join(sorted(missing))} (English and Hindi are always required)"
        )
    for language, text in value.items():
        if not (2 <= len(language) <= 3 and language.isalpha() and language.islower()):
            raise ValueError(f"{language!r} is not an ISO 639 language code")
        if not text.strip() or len(text) > limit:
            raise ValueError(f"the {language} text must have 1 to {limit} characters")
    return value


DIRECTIVE_MAX_BYTES = 256 * 1024
# A thousand messages of 1,000 characters each, in Devanagari (three bytes a character).
MESSAGES_MAX_BYTES = 4 * 1024 * 1024


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=10, max_length=500, description="Why this urgent directive may not wait"
    )


class RecurrenceCreate(BaseModel):
    """War-room slots: see shared.sending.recurrence for the RRULE subset understood."""

    model_config = ConfigDict(extra="forbid")

    rrule: str = Field(
        min_length=6,
        max_length=200,
        examples=["FREQ=DAILY;BYHOUR=8,10,12,14,16,18;BYMINUTE=0"],
        description="RFC 5545 RRULE: FREQ=DAILY|WEEKLY, BYHOUR (required), BYMINUTE, BYSECOND, "
        "BYDAY, INTERVAL, COUNT; at most 6 slots a day",
    )
    timezone: str = Field(
        "Asia/Kolkata",
        pattern=r"^[A-Za-z]+(/[A-Za-z0-9_+-]+)*$",
        max_length=64,
        description="IANA time zone of BYHOUR/BYMINUTE",
    )
    until: AwareDatetime | None = Field(
        None, description="No round after this; null: until expires_at"
    )


class DirectiveCreate(BaseModel):
    # An unknown field is refused, never silently dropped.
    model_config = ConfigDict(extra="forbid")

    title: dict[str, str] = Field(description="By language: en and hi required")
    body: dict[str, str] = Field(description="By language: en and hi required")
    scope: list[UnitId] = Field(min_length=1, max_length=1000)
    audience: list[Role] = Field(min_length=1)
    channels: list[ChannelName] = Field(min_length=1, description="In order of preference")
    priority: Literal["urgent", "normal", "bulk"] = "normal"
    send_at: AwareDatetime | None = None
    expires_at: AwareDatetime
    quiet_hours_override: Override | None = None
    recurrence: RecurrenceCreate | None = Field(
        None, description="Send again at these slots, one round each"
    )

    _title = field_validator("title")(lambda cls, v: _texts(v, 200))
    _body = field_validator("body")(lambda cls, v: _texts(v, 4096))

    @field_validator("scope", "audience", "channels")
    @classmethod
    def _unique(cls, value: list):
        if len(set(value)) != len(value):
            raise ValueError("must not repeat an item")
        return value


class DirectiveRead(BaseModel):
    directive_id: str
    issued_by: str
    issuing_unit: str
    title: dict[str, str]
    body: dict[str, str]
    scope: list[str]
    audience: list[str]
    channels: list[str]
    priority: str
    send_at: str | None
    expires_at: str
    issued_at: str
    state: str
    quiet_hours_override: dict | None = None
    recurrence: dict | None = Field(
        None,
        description="A recurring directive's rule as issued: {rrule (canonical), timezone, until "
        "(ISO or null)}; its rounds run from send_at (or the issue, if later) to the earlier of "
        "until, COUNT and expires_at (shared.sending.recurrence). Null: a single directive",
    )
    next_round_at: str | None = Field(None, description="A recurring directive's next slot")


class OtpDeliveryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: uuid.UUID
    appointment_id: uuid.UUID
    booth_id: UnitId
    phone: str = Field(pattern=r"^\+[1-9]\d{7,14}$")
    channel: Literal["sms", "whatsapp"]
    locale: Locale
    text: str = Field(min_length=1, max_length=1000)


class MessageCreate(BaseModel):
    """One text a service wrote for one appointee. Never logged: it holds a phone."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$",
        description="The caller's id: a message is queued once by it, whatever the retries; "
        "unique across every caller's messages (a UUID, or prefixed by the caller)",
    )
    appointment_id: uuid.UUID
    booth_id: UnitId
    phone: str = Field(max_length=32, description="E.164, or a number libphonenumber reads")
    channel: Literal["whatsapp", "sms"] = Field(description="whatsapp falls back to sms")
    locale: Locale
    text: str = Field(min_length=1, max_length=1000)
    lane: Literal["normal", "bulk"] = "normal"

    @field_validator("booth_id")
    @classmethod
    def _a_booth(cls, value: str) -> str:
        if booth_path(value) is None:
            raise ValueError("is not a booth's id")
        return value

    @field_validator("phone")
    @classmethod
    def _a_phone(cls, value: str) -> str:
        e164 = to_e164(value)
        if e164 is None:
            raise ValueError("is not a phone number")  # the value itself is never echoed
        return e164


class MessagesCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[MessageCreate] = Field(min_length=1, max_length=MESSAGES_PER_REQUEST)


class EscalationCreate(BaseModel):
    """Word to one unit's office (its app webhook): no phone, no person."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,127}$",
        description="The caller's id: queued once by it (as for /v1/messages)",
    )
    unit_id: UnitId = Field(description="The unit told, e.g. a mandal")
    text: str = Field(min_length=1, max_length=1000)


class EscalationsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    escalations: list[EscalationCreate] = Field(min_length=1, max_length=MESSAGES_PER_REQUEST)


class MessagesQueued(BaseModel):
    queued: int = Field(description="Messages put on their lanes by this request")
    duplicates: int = Field(description="Messages queued before (same message_id): not again")


def directive_read(directive: Directive) -> DirectiveRead:
    override = directive.override
    return DirectiveRead(
        **directive.event_data(),
        state=directive.state,
        quiet_hours_override={"reason": override.reason, "by": override.by} if override else None,
        next_round_at=_iso(directive.next_due),
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def problem(exc: Refused) -> ProblemError:
    return ProblemError(exc.status, exc.kind, exc.title, exc.detail)


def not_found(directive_id: str) -> ProblemError:
    return ProblemError(
        404, "unknown-directive", "Unknown directive", f"No directive has id {directive_id!r}."
    )


def directives_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1/directives", tags=["directives"])
    ports = adapters.ports
    Organiser = Annotated[Principal, Depends(auth.organiser(ISSUE_SCOPE))]

    def readable(directive_id: str, who: Principal) -> Directive:
        directive = ports.store.get(directive_id)
        if directive is None:
            raise not_found(directive_id)
        require_jurisdiction(who, directive.issuing_unit)
        return directive

    @router.post(
        "",
        status_code=201,
        response_model=DirectiveRead,
        responses=problems(
            403,
            422,
            kinds={
                403: "not an organiser, a scope unit outside their jurisdiction, or "
                "override-forbidden (quiet_hours_override needs HQ or a state and its own scope)",
                422: "validation-error, unknown-unit, unknown-role, expiry-in-past, "
                "send-after-expiry, override-not-allowed, invalid-recurrence, no-rounds, "
                "round-in-quiet-hours, too-many-rounds",
            },
        ),
    )
    def issue(
        body: DirectiveCreate,
        who: Organiser,
        response: Response,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=128)
        ] = None,
    ):
        require_audience(who, body.scope, body.audience)
        directive_id = str(
            uuid.uuid5(_IDS, f"{who.subject}:{idempotency_key}")
            if idempotency_key
            else uuid.uuid4()
        )
        cmd = IssueDirective(
            directive_id=directive_id,
            issued_by=who.subject,
            issuing_unit=who.unit,
            title=body.title,
            body=body.body,
            scope=tuple(body.scope),
            audience=tuple(body.audience),
            channels=tuple(body.channels),
            priority=body.priority,
            send_at=body.send_at,
            expires_at=body.expires_at,
            override_reason=body.quiet_hours_override.reason if body.quiet_hours_override else None,
            issuer_scopes=who.scopes,
            recurrence=body.recurrence.model_dump() if body.recurrence else None,
        )
        try:
            directive, created = directives.issue_directive(cmd, ports)
        except Refused as exc:
            raise problem(exc) from None
        response.status_code = 201 if created else 200
        response.headers["Location"] = f"/v1/directives/{directive_id}"
        return directive_read(directive)

    @router.get("/{directive_id}", response_model=DirectiveRead, responses=problems(404))
    def read(directive_id: str, who: Organiser):
        return directive_read(readable(directive_id, who))

    @router.post(
        "/{directive_id}/cancel",
        response_model=DirectiveRead,
        responses=problems(
            404, 409, kinds={409: "not-cancellable: already fully sent or cancelled"}
        ),
    )
    def cancel(directive_id: str, who: Organiser):
        readable(directive_id, who)
        try:
            return directive_read(
                directives.cancel_directive(CancelDirective(directive_id, who.subject), ports)
            )
        except Refused as exc:
            raise problem(exc) from None

    @router.get("/{directive_id}/status", responses=problems(404))
    def status(directive_id: str, who: Organiser):
        directive = readable(directive_id, who)
        answer = {
            "directive_id": directive_id,
            "state": directive.state,
            **ports.tally.snapshot(directive_id),
            "follow_ups": _follow_ups(directive),
        }
        if directive.recurring:
            answer["rounds"] = _rounds(directive)
        return answer

    @router.get(
        "/{directive_id}/status/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **problems(404)},
    )
    async def stream(
        directive_id: str,
        who: Organiser,
        request: Request,
        interval_s: Annotated[float, Query(ge=0.2, le=30)] = 1.0,
        max_s: Annotated[float, Query(ge=1, le=3600)] = 3600,
    ):
        await run_in_threadpool(readable, directive_id, who)
        return StreamingResponse(
            _events(directive_id, request, interval_s, max_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _events(directive_id: str, request: Request, interval_s: float, max_s: float):
        last, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + max_s
        while time.monotonic() < deadline and not await request.is_disconnected():
            seq = await run_in_threadpool(ports.tally.seq, directive_id)
            if seq != last:
                snapshot = await run_in_threadpool(ports.tally.snapshot, directive_id)
                last, quiet_since = seq, time.monotonic()
                yield (
                    f"event: status\nid: {seq}\n"
                    f"data: {json.dumps(snapshot, separators=(',', ':'))}\n\n"
                )
            elif time.monotonic() - quiet_since > 15:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"
            await asyncio.sleep(interval_s)

    @router.get("/{directive_id}/failures", responses=problems(404))
    def failures(
        directive_id: str, who: Organiser, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
    ):
        readable(directive_id, who)
        found = ports.tally.failures(directive_id, limit)
        return {"directive_id": directive_id, "failures": found, "count": len(found)}

    @router.get("/{directive_id}/booths", responses=problems(404))
    def booths(
        directive_id: str,
        who: Organiser,
        missing: Literal["reached", "acknowledged"] = "reached",
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ):
        readable(directive_id, who)
        which = "reached" if missing == "reached" else "acked"
        found = ports.tally.booths_without(directive_id, which, limit)
        return {"directive_id": directive_id, "missing": missing, "booths": found}

    return router


def _rounds(directive: Directive) -> dict:
    """A recurring directive's rounds: each that ran (or was missed, or is sending), and the next
    due."""
    ran = [
        {
            "round_id": round_id,
            "slot": _iso(held.slot),
            "state": held.state,
            "started_at": _iso(held.started_at),
            "finished_at": _iso(held.finished_at),
            "targeted": held.targeted,
        }
        for round_id, held in sorted(directive.rounds.items())
    ]
    done = sum(entry["state"] == ROUND_DONE for entry in ran)
    return {"ran": ran, "done": done, "next_due": _iso(directive.next_due)}


def _follow_ups(directive: Directive) -> dict:
    return {
        "reminders": directive.follow_ups.reminders,
        "escalations": directive.follow_ups.escalations,
    }


def service_message(
    body: OtpDeliveryCreate | MessageCreate, *, message_id: str, lane: str
) -> ServiceMessage:
    return ServiceMessage(
        message_id=message_id,
        appointment_id=str(body.appointment_id),
        booth_id=body.booth_id,
        phone=body.phone,
        channel=body.channel,
        locale=body.locale,
        text=body.text,
        lane=lane,
    )


def lanes_unavailable(what: str, exc: Exception, **fields) -> ProblemError:
    """Kafka did not take them: the caller must know nothing new was queued."""
    log.warning(f"{what} not queued", fields={**fields, "error_class": type(exc).__name__})
    return ProblemError(
        503,
        "lanes-unavailable",
        "Not queued",
        "The delivery lanes are not taking messages; try again shortly.",
        headers={"Retry-After": "2"},
    )


def messages_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["messages"])
    Service = Annotated[Principal, Depends(auth.service(SEND_SCOPE))]
    ports = adapters.ports

    def queue(kind: str, messages: tuple[ServiceMessage, ...]) -> service_messages.Queued:
        try:
            return service_messages.queue_messages(SendMessages(kind, messages), ports)
        except Refused as exc:
            raise problem(exc) from None
        except (DeliveryError, KafkaException, BufferError) as exc:
            raise lanes_unavailable(kind, exc, messages=len(messages)) from None

    @router.post(
        "/otp-deliveries",
        status_code=202,
        responses=problems(
            403,
            503,
            kinds={
                403: f"not a service holding {SEND_SCOPE}",
                503: "lanes-unavailable: the code was not queued; try again",
            },
        ),
    )
    def deliver_otp(body: OtpDeliveryCreate, caller: Service):
        message = service_message(body, message_id=str(body.request_id), lane=URGENT)
        queued = queue(OTP, (message,))
        delivery_id = (
            queued.tasks[0].delivery_id
            if queued.tasks
            else service_messages.delivery_of(OTP, message)
        )
        return {"delivery_id": delivery_id, "lane": URGENT}

    def answered(kind: str, messages: tuple[ServiceMessage, ...], caller: Principal):
        queued = queue(kind, messages)
        log.info(
            f"{kind} messages queued",
            fields={
                "caller": caller.subject,
                "queued": len(queued.tasks),
                "duplicates": queued.duplicates,
            },
        )
        return MessagesQueued(queued=len(queued.tasks), duplicates=queued.duplicates)

    def refusals(what: str):
        return problems(
            403,
            422,
            503,
            kinds={
                403: f"not a service holding {SEND_SCOPE}",
                422: f"validation-error naming each {what} at fault ({what}s.<index>.<field>)"
                + (", wrong-lane" if what == "message" else ""),
                503: "lanes-unavailable: nothing new was queued; send the same request again",
            },
        )

    @router.post(
        "/messages", status_code=202, response_model=MessagesQueued, responses=refusals("message")
    )
    def send_messages(body: MessagesCreate, caller: Service):
        messages = tuple(
            service_message(m, message_id=m.message_id, lane=m.lane) for m in body.messages
        )
        return answered(PERSONAL, messages, caller)

    @router.post(
        "/escalations",
        status_code=202,
        response_model=MessagesQueued,
        responses=refusals("escalation"),
    )
    def escalate(body: EscalationsCreate, caller: Service):
        # The unit is the recipient, as a directive's escalation names its sector.
        messages = tuple(
            ServiceMessage(
                message_id=e.message_id,
                appointment_id=e.unit_id,
                booth_id=e.unit_id,
                phone="",
                channel="webhook",
                locale="en",
                text=e.text,
                lane=NORMAL,
            )
            for e in body.escalations
        )
        return answered(ESCALATION, messages, caller)

    return router


def receipts_router(adapters: Adapters) -> APIRouter:
    router = APIRouter(tags=["receipts"])
    ports = adapters.ports

    @router.post(
        "/v1/webhooks/provider",
        responses=problems(
            400,
            401,
            503,
            kinds={
                400: "bad-payload",
                401: "bad-signature",
                503: "events-unavailable or replies-unavailable: call again",
            },
        ),
    )
    async def provider_webhook(
        request: Request,
        signature: Annotated[str | None, Header(alias="X-Provider-Signature")] = None,
    ):
        body = await request.body()
        try:
            signatures.check(adapters.webhook_key, body, signature, time.time())
        except signatures.BadSignature as exc:
            # Only the reason and the size: the payload holds phone numbers.
            log.warning("provider webhook refused", fields={"reason": str(exc), "bytes": len(body)})
            raise ProblemError(
                401,
                "bad-signature",
                "Signature not accepted",
                "The X-Provider-Signature header is missing, stale or does not match.",
            ) from None
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            raise ProblemError(400, "bad-payload", "The payload is not a JSON object") from None
        try:
            return await run_in_threadpool(receipts.record_receipts, payload, ports)
        except InboundUnavailable as exc:
            log.warning("inbound reply not handed over", fields={"reason": str(exc)})
            raise ProblemError(
                503,
                "replies-unavailable",
                "Replies not handled",
                "Call again.",
                headers={"Retry-After": "5"},
            ) from None
        except EventsUnavailable:
            raise ProblemError(
                503,
                "events-unavailable",
                "Receipts not recorded",
                "Call again.",
                headers={"Retry-After": "5"},
            ) from None

    def claim(token: str) -> acks.AckClaim:
        try:
            return acks.read(adapters.ack_key, token)
        except acks.InvalidAckToken:
            raise ProblemError(
                403,
                "invalid-ack-token",
                "This acknowledgement link is not valid",
                "The link was changed or was not sent by the organisation.",
            ) from None

    @router.get(
        "/a/{token}",
        response_class=HTMLResponse,
        tags=["acknowledgements"],
        responses=problems(403, 404, kinds={403: "invalid-ack-token"}),
    )
    def ack_page(token: str):
        found = claim(token)
        directive = ports.store.get(found.directive_id)
        if directive is None:
            raise not_found(found.directive_id)
        title = html.escape(
            directive.title.get("hi", directive.title["en"]) + " / " + directive.title["en"]
        )
        body = html.escape(directive.body["en"])
        return HTMLResponse(f"""<!doctype html><meta charset="utf-8"><title>{title}</title>
<h1>{title}</h1><p>{body}</p>
<form method="post"><button>पुष्टि करें / Acknowledge</button></form>""")

    @router.post(
        "/a/{token}",
        tags=["acknowledgements"],
        responses=problems(
            403, 404, 410, 503, kinds={403: "invalid-ack-token", 410: "directive-closed"}
        ),
    )
    def acknowledge(token: str, request: Request):
        found = claim(token)
        try:
            new = receipts.acknowledge(
                Acknowledge(found.directive_id, found.recipient_id, found.booth_id, "link"), ports
            )
        except NotFound:
            raise not_found(found.directive_id) from None
        except Refused as exc:
            raise problem(exc) from None
        except EventsUnavailable:
            raise ProblemError(
                503,
                "events-unavailable",
                "Not recorded",
                "Please try again.",
                headers={"Retry-After": "5"},
            ) from None
        answer = {"acknowledged": True, "directive_id": found.directive_id, "already": not new}
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse("<!doctype html><meta charset='utf-8'><p>धन्यवाद / Thank you.</p>")
        return JSONResponse(answer)

    return router


def create_notifier_app(adapters: Adapters) -> FastAPI:
    settings = adapters.settings
    auth = Authenticator(settings)
    routers = [
        directives_router(adapters, auth),
        messages_router(adapters, auth),
        receipts_router(adapters),
    ]
    return create_app(
        service=settings.service_name,
        settings=settings,
        checks=adapters.checks,
        routers=routers,
        on_startup=adapters.start,
        on_shutdown=adapters.stop,
        bodies=BODIES,
    )


# The provider signs its webhook and a link carries its own HMAC: neither brings a bearer token.
# A directive's texts in many languages may pass the JSON cap; a provider's batch of receipts and
# a service's thousand messages too.
BODIES = BodyRules(
    larger=(
        (r"/v1/directives", DIRECTIVE_MAX_BYTES),
        (r"/v1/messages", MESSAGES_MAX_BYTES),
        (r"/v1/escalations", MESSAGES_MAX_BYTES),
        (r"/v1/webhooks/provider", WEBHOOK_MAX_BYTES),
    ),
    open_paths=(r"/v1/webhooks/provider", r"/a/[^/]+"),
)


app = create_notifier_app(bootstrap(NotifierSettings()))
