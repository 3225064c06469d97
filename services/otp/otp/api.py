"""HTTP entrypoint of the OTP service: translates requests to commands and outcomes to answers.

POST /v1/verifications          a service holding otp:verify checks a code
GET  /v1/dev/deliveries         development only: the local sink's messages
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field

from otp import handlers
from otp.adapters.delivery import RedisStreamSink
from otp.bootstrap import Adapters, bootstrap
from otp.commands import VerifyCode
from otp.settings import OtpSettings
from shared.auth.http import Authenticator
from shared.auth.tokens import Principal
from shared.http import create_app
from shared.problems import ProblemError, problems

VERIFY_SCOPE = "otp:verify"


class VerificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: uuid.UUID
    appointment_id: uuid.UUID
    code: str = Field(pattern=r"^[0-9]{4,10}$", description="The digits the appointee received")
    on_behalf_of: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The person the calling service acts for (an organiser's subject)",
    )


class VerificationRead(BaseModel):
    verified: bool
    request_id: uuid.UUID
    appointment_id: uuid.UUID


class DeliveryRead(BaseModel):
    request_id: str
    appointment_id: str
    booth_id: str
    channel: str
    locale: str
    phone: str  # masked
    text: str
    code: str
    delivered_at_ms: int


class DeliveriesRead(BaseModel):
    appointment_id: uuid.UUID
    deliveries: list[DeliveryRead]  # newest first


def rejected() -> ProblemError:
    # One body for wrong, unknown, replaced, expired, used and locked codes: a caller learns
    # nothing about which requests exist or how many tries are left.
    return ProblemError(
        422,
        "otp-rejected",
        "The code was not accepted",
        "The code is wrong, expired, already used or no longer valid. "
        "Request a new code if the appointee cannot enter the right one.",
    )


def verifications_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["verifications"])
    Caller = Annotated[Principal, Depends(auth.service(VERIFY_SCOPE))]

    @router.post(
        "/verifications",
        response_model=VerificationRead,
        responses=problems(
            403,
            422,
            429,
            503,
            kinds={
                403: f"not a service holding {VERIFY_SCOPE}",
                422: "otp-rejected (one answer for every reason) or validation-error",
                429: "too-many-verifications: this caller's per-minute cap",
                503: "events-unavailable: nothing decided, the same code may be tried again",
            },
        ),
    )
    def verify(body: VerificationCreate, caller: Caller) -> VerificationRead:
        command = VerifyCode(
            request_id=str(body.request_id),
            appointment_id=str(body.appointment_id),
            code=body.code,
            caller=caller.subject,
            on_behalf_of=body.on_behalf_of,
        )
        try:
            handlers.verify_code(command, adapters.ports)
        except handlers.CodeRejected:
            raise rejected() from None
        except handlers.Throttled as exc:
            raise ProblemError(
                429,
                "too-many-verifications",
                "Too many verifications",
                "This caller, or the person it acts for, "
                "has spent its verifications for this minute.",
                headers={"Retry-After": str(exc.retry_after_s)},
            ) from None
        except handlers.Unavailable:
            raise ProblemError(
                503,
                "events-unavailable",
                "Verification temporarily unavailable",
                "The outcome could not be recorded; the code was not used. "
                "Try the same code again.",
                headers={"Retry-After": "5"},
            ) from None
        return VerificationRead(
            verified=True, request_id=body.request_id, appointment_id=body.appointment_id
        )

    return router


def dev_router(sink: RedisStreamSink) -> APIRouter:
    router = APIRouter(prefix="/v1/dev", tags=["development"])

    @router.get("/deliveries", response_model=DeliveriesRead)
    def deliveries(appointment_id: Annotated[uuid.UUID, Query()]) -> DeliveriesRead:
        found = sink.deliveries(str(appointment_id))
        return DeliveriesRead(
            appointment_id=appointment_id, deliveries=[DeliveryRead(**d) for d in found]
        )

    return router


def create_otp_app(adapters: Adapters) -> FastAPI:
    settings = adapters.settings
    routers = [verifications_router(adapters, Authenticator(settings))]
    # Codes readable over HTTP only on a developer's machine or in tests: elsewhere the route
    # does not exist (404).
    if settings.environment == "development" and adapters.sink is not None:
        routers.append(dev_router(adapters.sink))
    return create_app(
        service=settings.service_name,
        settings=settings,
        checks=adapters.checks,
        routers=routers,
        on_startup=adapters.start,
        on_shutdown=adapters.stop,
    )


app = create_otp_app(bootstrap(OtpSettings()))
