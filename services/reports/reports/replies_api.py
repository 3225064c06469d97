"""The reports service's internal route for answers by reply (docs/reports.md, "Answers by SMS or
WhatsApp reply"):

    POST /internal/replies    the notifier hands over a verified inbound reply (service token,
                              scope reports:reply): the appointments it found by the sender's
                              phone, never the phone itself

It answers 200 with the outcome and the message to send back. The text is free text: it is
parsed, kept only as answers, and never logged; the log line names the outcome and why.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from reports import commands, replying
from reports.bootstrap import Adapters
from reports.ports import ConcurrentUpdate
from shared.auth.http import Authenticator
from shared.auth.tokens import Principal
from shared.logging import get_logger
from shared.orgtree.api import UNIT_ID_PATTERN
from shared.problems import ProblemError, problems

REPLY_SCOPE = "reports:reply"
log = get_logger(__name__)


class AppointeeRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appointment_id: str = Field(min_length=1, max_length=64)
    booth_id: str = Field(pattern=UNIT_ID_PATTERN)
    role: str = Field(pattern=r"^[a-z][a-z_]{1,39}$")


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply_id: str = Field(
        min_length=1, max_length=128, description="The provider's message id: a repeat is one"
    )
    channel: Literal["sms", "whatsapp"]
    text: str = Field(min_length=1, max_length=1000)
    appointees: list[AppointeeRef] = Field(min_length=1, max_length=20)


class ReplyRead(BaseModel):
    outcome: Literal["submitted", "repeated", "not-understood", "already-answered", "nothing-asked"]
    message: dict[str, str] | None = Field(description="To send back to the sender ({en, hi})")
    dispatch_id: str | None = None
    booth_id: str | None = None
    appointment_id: str | None = None
    submission_id: str | None = None
    late: bool | None = None
    reason: str | None = None


def replies_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/internal", tags=["internal"])
    Notifier = Annotated[Principal, Depends(auth.service(REPLY_SCOPE))]

    @router.post("/replies", response_model=ReplyRead, responses=problems(403, 503))
    async def reply(body: ReplyCreate, caller: Notifier) -> ReplyRead:
        command = commands.AnswerByReply(
            reply_id=body.reply_id,
            channel=body.channel,
            text=body.text,
            appointees=tuple(commands.Appointee(**a.model_dump()) for a in body.appointees),
        )
        try:
            outcome = await run_in_threadpool(replying.answer_by_reply, command, adapters.ports)
        except ConcurrentUpdate:
            raise ProblemError(
                503,
                "busy",
                "Busy",
                "the booth's report kept changing; try again",
                headers={"Retry-After": "1"},
            ) from None
        log.info(
            "reply handled",
            fields={
                "caller": caller.subject,
                "channel": body.channel,
                "outcome": outcome.outcome,
                "reason": outcome.reason,
                "dispatch_id": outcome.dispatch_id,
                "booth_id": outcome.booth_id,
            },
        )
        return ReplyRead(**vars(outcome))

    return router
