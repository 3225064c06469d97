"""HTTP entrypoint of the meetings service: translates requests to commands and outcomes to answers.

POST /v1/meetings                  an organiser schedules a meeting (or a series) in their unit
GET  /v1/meetings?unit=<id>        meetings held by or reaching into a unit inside the caller's
GET  /v1/meetings/{id}             one meeting
POST /v1/meetings/{id}/cancel      cancel it before it starts: announced (meeting-cancelled), and
                                   whoever was sent the invitation is told
"""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from meetings import handlers
from meetings.bootstrap import Adapters, bootstrap
from meetings.commands import CancelMeeting, ScheduleMeeting
from meetings.domain import (
    AUDIO,
    MAX_DURATION_MINUTES,
    MODERATOR,
    SPEAKER,
    VIDEO,
    Guest,
    Meeting,
    Refused,
    Speaker,
    visible_to,
)
from meetings.live_api import OPEN_PATHS, live_router
from meetings.settings import MeetingsSettings
from shared.audience import require_audience
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.http import create_app
from shared.limits import BodyRules
from shared.phones import to_e164
from shared.problems import ProblemError, problems

SCHEDULE_SCOPE = "meetings:schedule"
_GUESTS = uuid.UUID("9d2f6a41-3c8e-4b7a-b5d0-71e2c4a9f803")

UnitId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Role = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{1,39}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class TitleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hi: Text
    en: Text


class AppointeeSpeaker(BaseModel):
    """An appointee of a booth inside the organiser's unit (found among its verified team)."""

    model_config = ConfigDict(extra="forbid")
    appointment_id: uuid.UUID
    booth_id: UnitId


class OutsideSpeaker(BaseModel):
    """Someone outside the organisation: a label and a phone (sealed at rest, never logged)."""

    model_config = ConfigDict(extra="forbid")
    label: Text
    phone: str = Field(min_length=8, max_length=20)


class RecurrenceCreate(BaseModel):
    """The directives' RRULE subset (shared.sending.recurrence); it must end (COUNT or until)."""

    model_config = ConfigDict(extra="forbid")
    rrule: str = Field(min_length=6, max_length=200, examples=["FREQ=WEEKLY;BYHOUR=19;COUNT=4"])
    timezone: str = Field("Asia/Kolkata", pattern=r"^[A-Za-z]+(/[A-Za-z0-9_+-]+)*$", max_length=64)
    until: AwareDatetime | None = None


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["audio_bridge", "video_conference"]
    scope: list[UnitId] = Field(min_length=1, max_length=100)
    audience: list[Role] = Field(min_length=1, max_length=20)
    title: TitleCreate
    starts_at: AwareDatetime
    duration_minutes: int = Field(ge=5, le=MAX_DURATION_MINUTES)
    speakers: list[AppointeeSpeaker | OutsideSpeaker] = Field(default_factory=list, max_length=20)
    moderators: list[AppointeeSpeaker | OutsideSpeaker] = Field(default_factory=list, max_length=10)
    recurrence: RecurrenceCreate | None = None
    room: Literal["per_meeting", "standing"] | None = Field(
        None, description="video only: a room of its own (default) or the unit's standing room"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "MeetingCreate":
        if len(set(self.scope)) != len(self.scope) or len(set(self.audience)) != len(self.audience):
            raise ValueError("scope and audience must not repeat an item")
        if self.room is not None and self.kind != VIDEO:
            raise ValueError("room is for a video_conference only")
        return self


class SpeakerRead(BaseModel):
    appointment_id: str | None = None
    booth_id: str | None = None
    label: str | None = None  # outside speakers: the label only, never the phone
    part: str


class JobRead(BaseModel):
    reached: int  # invitees so far
    done_at: str | None


class MeetingRead(BaseModel):
    meeting_id: str
    series_id: str
    kind: str
    organiser_unit: str
    scope: list[str]
    audience: list[str]
    title: dict[str, str]
    starts_at: str
    ends_at: str
    duration_minutes: int
    recurrence: str | None
    room: str | None
    room_ref: str | None
    dial_in_number: str | None
    pin: str | None
    speakers: list[SpeakerRead]
    state: str
    # Why the meeting was cancelled at its start: blackout | quiet_hours (the sending policy
    # forbade it then; nobody was dialled). Null when the organiser cancelled it or it is not.
    cancel_reason: str | None = None
    scheduled_at: str
    # invite: recorded and announced; notify: invitations handed to the notifier; remind: the
    # reminders. Absent from a list.
    jobs: dict[str, JobRead] | None = None


class MeetingsRead(BaseModel):
    meetings: list[MeetingRead]


def meeting_read(meeting: Meeting, dial_in: str, progress: dict | None = None) -> MeetingRead:
    audio = meeting.kind == AUDIO
    return MeetingRead(
        **{k: v for k, v in meeting.event_data().items() if k not in ("meeting_id",)},
        meeting_id=meeting.meeting_id,
        series_id=meeting.series_id,
        duration_minutes=meeting.duration_minutes,
        room=meeting.room,
        room_ref=meeting.room_ref,
        dial_in_number=dial_in if audio else None,
        pin=meeting.pin,
        speakers=[
            SpeakerRead(appointment_id=s.appointment_id, booth_id=s.booth_id, part=s.part)
            for s in meeting.speakers
        ]
        + [SpeakerRead(label=g.label, part=g.part) for g in meeting.guests],
        state=meeting.state,
        cancel_reason=meeting.cancel_reason,
        jobs={
            job: JobRead(
                reached=state["reached"],
                done_at=state["done_at"].isoformat() if state["done_at"] else None,
            )
            for job, state in progress.items()
        }
        if progress is not None
        else None,
    )


def problem(exc: Refused) -> ProblemError:
    return ProblemError(exc.status, exc.kind, exc.title, exc.detail, **exc.extensions)


def not_found(meeting_id: str) -> ProblemError:
    return ProblemError(
        404, "unknown-meeting", "Unknown meeting", f"No meeting has id {meeting_id!r}."
    )


def _people(body: MeetingCreate, who: Principal) -> tuple[tuple[Speaker, ...], tuple[Guest, ...]]:
    speakers, guests = [], []
    for part, people in ((SPEAKER, body.speakers), (MODERATOR, body.moderators)):
        for person in people:
            if isinstance(person, AppointeeSpeaker):
                require_jurisdiction(who, person.booth_id)
                speakers.append(Speaker(str(person.appointment_id), person.booth_id, part))
                continue
            phone = to_e164(person.phone)
            if phone is None:
                raise ProblemError(
                    422,
                    "invalid-phone",
                    "Invalid phone number",
                    f"The phone of outside {part} {person.label!r} is not a valid number.",
                )
            guest_id = str(uuid.uuid5(_GUESTS, f"{part}:{person.label}:{phone}"))
            guests.append(Guest(guest_id, person.label, phone, part))
    return tuple(speakers), tuple(guests)


def meetings_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1/meetings", tags=["meetings"])
    ports, dial_in = adapters.ports, adapters.settings.dial_in_number
    Organiser = Annotated[Principal, Depends(auth.organiser(SCHEDULE_SCOPE))]

    def readable(meeting_id: str, who: Principal) -> Meeting:
        meeting = ports.meetings.get(meeting_id)
        if meeting is None or not visible_to(meeting, who.unit or ""):
            # Another unit's meeting is as unknown as one that does not exist.
            raise not_found(meeting_id)
        return meeting

    @router.post(
        "",
        status_code=202,
        response_model=MeetingsRead,
        responses=problems(
            403,
            422,
            503,
            kinds={
                403: "not an organiser, or a scope unit or speaker's booth outside their unit",
                422: "validation-error, unknown-unit, unknown-role, invalid-phone, starts-in-past, "
                "outside-sending-window (with may_start_at), invalid-recurrence, "
                "unbounded-recurrence, too-many-occurrences",
                503: "dependency-unavailable (MongoDB)",
            },
        ),
    )
    def schedule(
        body: MeetingCreate,
        who: Organiser,
        response: Response,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=128)
        ] = None,
    ) -> MeetingsRead:
        require_audience(who, body.scope, body.audience)
        speakers, guests = _people(body, who)
        cmd = ScheduleMeeting(
            organiser=who.subject,
            organiser_unit=who.unit,
            kind=body.kind,
            scope=tuple(body.scope),
            audience=tuple(body.audience),
            title={"hi": body.title.hi, "en": body.title.en},
            starts_at=body.starts_at,
            duration_minutes=body.duration_minutes,
            speakers=speakers,
            guests=guests,
            recurrence=body.recurrence.model_dump() if body.recurrence else None,
            room=(body.room or "per_meeting") if body.kind == VIDEO else None,
            idempotency_key=idempotency_key,
        )
        try:
            meetings, created = handlers.schedule_meeting(cmd, ports)
        except Refused as exc:
            raise problem(exc) from None
        response.status_code = 202 if created else 200
        response.headers["Location"] = f"/v1/meetings/{meetings[0].meeting_id}"
        return MeetingsRead(meetings=[meeting_read(m, dial_in) for m in meetings])

    @router.get("", response_model=MeetingsRead, responses=problems(403))
    def listing(
        who: Organiser,
        unit: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> MeetingsRead:
        unit = unit or who.unit
        require_jurisdiction(who, unit)
        found = ports.meetings.for_unit(unit, limit)
        return MeetingsRead(meetings=[meeting_read(m, dial_in) for m in found])

    @router.get("/{meeting_id}", response_model=MeetingRead, responses=problems(404))
    def read(meeting_id: str, who: Organiser) -> MeetingRead:
        meeting = readable(meeting_id, who)
        return meeting_read(meeting, dial_in, ports.meetings.progress(meeting_id))

    @router.post(
        "/{meeting_id}/cancel",
        response_model=MeetingRead,
        responses=problems(
            403, 404, 409, kinds={409: "not-cancellable: already cancelled, or starting"}
        ),
    )
    def cancel(meeting_id: str, who: Organiser) -> MeetingRead:
        meeting = readable(meeting_id, who)
        require_jurisdiction(who, meeting.organiser_unit)
        try:
            cancelled = handlers.cancel_meeting(CancelMeeting(meeting_id, who.subject), ports)
        except Refused as exc:
            raise problem(exc) from None
        return meeting_read(cancelled, dial_in)

    return router


def create_meetings_app(adapters: Adapters) -> FastAPI:
    settings = adapters.settings
    auth = Authenticator(settings)
    return create_app(
        service=settings.service_name,
        settings=settings,
        checks=adapters.checks,
        routers=[
            meetings_router(adapters, auth),
            live_router(adapters.live, auth, adapters.ports.links.key),
        ],
        on_startup=adapters.start,
        on_shutdown=adapters.stop,
        bodies=BodyRules(open_paths=OPEN_PATHS),
    )


app = create_meetings_app(bootstrap(MeetingsSettings()))
