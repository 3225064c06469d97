"""HTTP routes of a meeting's live half (handlers in meetings/live.py):

POST /v1/provider/conference-events?meeting_id=   the conference provider's signed webhook
GET  /v1/meetings/{id}/attendance?unit=           attendance now, per unit one level below `unit`
POST /v1/meetings/{id}/mute | unmute | play | end  the organiser moderates every bridge
GET  /j/{token}                                   an invitee's join link: check in, then the room

A webhook not signed with the provider's key is refused (401); a webhook whose attendance could
not be stored or whose events Kafka did not take answers 503, so the provider sends it again, and
the repeat changes nothing that was already counted.
"""

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from meetings import links
from meetings.domain import visible_to
from meetings.live import BusyParticipant, LivePorts, attendance_report, check_in, moderate
from meetings.live import provider_event as fold_provider_event
from meetings.ports import BadWebhook, ProviderUnavailable
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.problems import ProblemError, dependency_unavailable, problems

SCOPE = "meetings:schedule"
# The provider signs its webhook and a join link carries its own HMAC: neither brings a bearer
# token, so the app's body rules leave them open (meetings.api passes these on).
OPEN_PATHS = (r"/v1/provider/conference-events", r"/j/[^/]+")
UNIT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class Counts(BaseModel):
    invited: int
    rang: int
    answered: int
    joined: int
    confirmed: int
    attended_seconds: int


class UnitCounts(Counts):
    unit_id: str


class AttendanceRead(BaseModel):
    meeting_id: str
    kind: str
    state: str  # scheduled | starting | started | ending | ended | cancelled
    unit: str
    totals: Counts
    units: list[UnitCounts]


class PlayCreate(BaseModel):
    recording_url: str = Field(min_length=8, max_length=512, pattern=r"^https?://")


def live_router(live: LivePorts, auth: Authenticator, link_key: bytes) -> APIRouter:
    router = APIRouter(tags=["meetings-live"])
    Organiser = Annotated[Principal, Depends(auth.organiser(SCOPE))]

    def meeting_of(meeting_id: str, who: Principal | None = None):
        meeting = live.meetings.get(meeting_id)
        if meeting is None or (who is not None and not visible_to(meeting, who.unit or "")):
            raise ProblemError(
                404, "unknown-meeting", "Unknown meeting", f"No meeting has id {meeting_id!r}."
            )
        return meeting

    @router.post(
        "/v1/provider/conference-events",
        status_code=204,
        responses=problems(401, 503, kinds={401: "bad-signature"}),
    )
    async def conference_event(
        request: Request,
        meeting_id: Annotated[str, Query(max_length=64)],
        signature: Annotated[str | None, Header(alias="X-Provider-Signature")] = None,
    ) -> Response:
        body = await request.body()
        try:
            event = live.provider.parse_webhook(body, signature)
        except BadWebhook as exc:
            raise ProblemError(401, "bad-signature", "Webhook refused", str(exc)) from None
        await run_in_threadpool(_fold, meeting_id, event)
        return Response(status_code=204)

    def _fold(meeting_id: str, event) -> None:
        try:
            fold_provider_event(meeting_id, event, live)
        except BusyParticipant:
            raise ProblemError(
                503, "busy-participant", "Try again", headers={"Retry-After": "1"}
            ) from None

    @router.get(
        "/v1/meetings/{meeting_id}/attendance",
        response_model=AttendanceRead,
        responses=problems(403, 404),
    )
    def attendance(
        meeting_id: str,
        who: Organiser,
        unit: Annotated[str | None, Query(pattern=UNIT)] = None,
    ) -> AttendanceRead:
        meeting = meeting_of(meeting_id, who)
        held_here = who.may_act_in(meeting.organiser_unit)
        unit = unit or (meeting.organiser_unit if held_here else who.unit)
        require_jurisdiction(who, unit)
        report = attendance_report(meeting_id, unit, live)
        state = live.live.live(meeting_id).get("state") or meeting.state
        return AttendanceRead(kind=meeting.kind, state=state, **report)

    @router.post(
        "/v1/meetings/{meeting_id}/{action}",
        status_code=204,
        responses=problems(403, 404, 409, 503, kinds={409: "not-live: not started or ended"}),
    )
    def moderated(
        meeting_id: str,
        action: Literal["mute", "unmute", "play", "end"],
        who: Organiser,
        body: PlayCreate | None = None,
    ) -> Response:
        meeting = meeting_of(meeting_id, who)
        require_jurisdiction(who, meeting.organiser_unit)  # its organiser's unit or above
        if action == "play" and body is None:
            raise ProblemError(422, "no-recording", "Play what?", "Give recording_url.")
        try:
            done = moderate(meeting_id, action, live, body.recording_url if body else None)
        except ProviderUnavailable:
            raise dependency_unavailable("conference provider") from None
        if not done:
            raise ProblemError(409, "not-live", "The meeting is not live", "Not started or ended.")
        return Response(status_code=204)

    @router.get("/j/{token}", status_code=303, responses=problems(404, 409))
    def join(token: Annotated[str, Field(max_length=512)]) -> Response:
        try:
            claim = links.read(link_key, token)
        except links.InvalidJoinToken:
            raise ProblemError(404, "unknown-link", "Unknown link") from None
        room = check_in(claim.meeting_id, claim.participant_id, live)
        if room is None:
            raise ProblemError(
                409, "not-live", "The meeting is not live", "Open the link when it has started."
            )
        participant_ref = f"{claim.meeting_id}/{claim.participant_id}"
        query = urlencode({"participant_ref": participant_ref, "token": token})
        return RedirectResponse(f"{room}?{query}", status_code=303)

    return router
