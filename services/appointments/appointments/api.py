"""HTTP entrypoint of the appointments service: a request becomes a command (commands.py) for
`handlers.handle`; an outcome or a refusal becomes an answer. Nothing else happens here.

    POST   /booths/{booth}/appointments                       appoint (an OTP goes to the phone)
    POST   /booths/{booth}/appointments/{id}/replacement      a new person in the seat
    DELETE /booths/{booth}/appointments/{id}                  revoke
    POST   /booths/{booth}/appointments/{id}/otp              a new code
    POST   /booths/{booth}/appointments/{id}/verification     the code the appointee read out
    POST   /booths/{booth}/appointments/{id}/unlock           lift a bar after too many wrong codes
    POST   /erasures                                          erase a person (DPDP Act)
    GET    /booths/{booth}/team, /units/{unit}/teams          read teams
    GET    /units/{unit}/appointments/live                    server-sent events of changes
    POST   /units/{unit}/appointments/import                  a CSV of appointments
    /units/{unit}/appointments, /units/{unit}/office          a unit's office-bearers (offices_api)
    GET    /internal/recipients                               the notifier's verified recipients
    POST   /internal/appointees/search                        who an inbound reply's phone is
"""

import asyncio
import json
import tempfile
import threading
import weakref
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from appointments import bulk, commands, handlers
from appointments.adapters.limits import AppointmentLimits
from appointments.adapters.recipients import RecipientsBuilding
from appointments.bootstrap import Adapters, bootstrap
from appointments.domain import LOCALE, VERIFIED, Appointment, BoothTeam, DomainError, Person
from appointments.phones import InvalidPhone, mask, normalise_mobile
from appointments.ports import ConcurrentUpdate, OtpThrottled, OtpUnavailable
from appointments.settings import AppointmentsSettings
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.http import create_app
from shared.limits import BodyRules
from shared.orgtree.api import BoothId, UnitId, units_router
from shared.problems import ProblemError, dependency_unavailable, problems
from shared.ratelimit import LimitsUnavailable, Throttled

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, never silently dropped

    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(
        min_length=6, max_length=24, description="An Indian mobile; any common format"
    )
    gender: Literal["female", "male", "other"]
    channel: Literal["sms", "whatsapp"] = "sms"
    locale: str = Field("hi", pattern=LOCALE)


class AppointmentCreate(PersonCreate):
    role: str = Field(pattern=r"^[a-z][a-z0-9_]{1,47}$", examples=["booth_president"])


class VerificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{4,10}$")


class AppointmentRead(BaseModel):
    id: str
    booth_id: str
    role: str
    status: str
    name: str
    phone: str = Field(description="Masked: personal data")
    gender: str
    channel: str
    appointed_by: str
    appointed_at: datetime
    verified_at: datetime | None
    ended_at: datetime | None
    replaces: str | None
    otp_failure: str | None


class ErasureCreate(BaseModel):
    """Either one appointment (booth_id and appointment_id) or a phone: every appointment of that
    phone inside the requester's unit."""

    model_config = ConfigDict(extra="forbid")
    booth_id: str | None = Field(None, max_length=64)
    appointment_id: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, min_length=6, max_length=24)


class ErasedRead(BaseModel):
    booth_id: str
    appointment_id: str


class ErasureRead(BaseModel):
    erasure_id: str
    erased: list[ErasedRead]


class TeamRead(BaseModel):
    booth_id: str
    booth_path: dict[str, str]
    complete: bool
    missing: dict[str, int]
    members: list[AppointmentRead]
    history: list[dict]


def _read(booth_id: str, a: Appointment) -> AppointmentRead:
    return AppointmentRead(
        id=a.id,
        booth_id=booth_id,
        role=a.role,
        status=a.status,
        name=a.person.name,
        phone=mask(a.person.phone),
        gender=a.person.gender,
        channel=a.person.channel,
        appointed_by=a.appointed_by,
        appointed_at=a.appointed_at,
        verified_at=a.verified_at,
        ended_at=a.ended_at,
        replaces=a.replaces,
        otp_failure=a.otp_failure,
    )


def _team_read(team: BoothTeam) -> TeamRead:
    return TeamRead(
        booth_id=team.booth_id,
        booth_path=team.booth_path,
        complete=team.is_complete(),
        missing=team.rules.missing(team.verified_members()),
        members=[_read(team.booth_id, a) for a in team.appointments if a.active],
        history=team.history,
    )


def _person(body: PersonCreate) -> Person:
    return Person(
        name=body.name.strip(),
        phone=_normalised(body.phone),
        gender=body.gender,
        channel=body.channel,
        locale=body.locale,
    )


def _normalised(phone: str) -> str:
    try:
        return normalise_mobile(phone)
    except InvalidPhone as bad:
        raise ProblemError(
            422,
            "invalid-phone",
            "The phone number is not valid",
            f"phone: {bad}",
            errors=[{"field": "phone", "reason": str(bad)}],
        ) from None


def _problem(error: DomainError) -> ProblemError:
    errors = [{"field": error.field, "reason": error.detail}] if error.field else []
    return ProblemError(error.status, error.kind, error.title, error.detail, errors=errors)


def _carried_out(adapters: Adapters, command: commands.Command, who: Principal):
    """handlers.handle, its refusals as problems."""
    try:
        return handlers.handle(adapters.ports, command, who)
    except DomainError as error:
        raise _problem(error) from None
    except Throttled as spent:
        raise too_many(spent) from None
    except ConcurrentUpdate:
        raise ProblemError(
            503,
            "busy-booth",
            "The booth team is being changed by others",
            "several changes to this booth collided; retry in a moment",
            headers={"Retry-After": "1"},
        ) from None
    except OtpThrottled as exc:
        raise ProblemError(
            429,
            "too-many-requests",
            "Too many requests",
            "the OTP service's budget for you is spent",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    except OtpUnavailable:
        raise dependency_unavailable("otp") from None
    # Budgets that cannot be read (LimitsUnavailable: Redis away) are the shared 503
    # `dependency-unavailable` (shared/problems.py).


def verification_answer(read: AppointmentRead):
    """200 once verified; 202 while otp-verified is still on its way back through Kafka."""
    if read.status == VERIFIED:
        return read
    return JSONResponse(read.model_dump(mode="json"), status_code=202)


def _team(adapters: Adapters, booth_id: str) -> BoothTeam:
    try:
        return handlers.load_team(adapters.ports, booth_id)
    except DomainError as error:
        raise _problem(error) from None


def too_many(spent: Throttled) -> ProblemError:
    return ProblemError(
        429,
        "too-many-requests",
        "Too many requests",
        str(spent),
        headers={"Retry-After": str(spent.retry_after_s)},
    )


BUDGETED = "too-many-requests: this organiser's budget"
SPENT = "too-many-requests: this organiser's or appointment's budget"
RESEND_ANSWERS = problems(
    404, 409, 429, 503, kinds={409: "wrong-appointment-state or appointment-barred", 429: SPENT}
)
VERIFY_ANSWERS = {
    202: {"description": "Code accepted; the appointment turns verified in a moment"},
    **problems(
        404,
        409,
        422,
        429,
        503,
        kinds={
            409: "wrong-appointment-state, appointment-barred, or code-not-usable (locked, "
            "expired or undelivered: ask for a new code)",
            422: "otp-rejected",
            429: SPENT,
        },
    ),
}


def appointments_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["appointments"])
    Writer = Annotated[Principal, Depends(auth.organiser("appointments:write"))]
    Reader = Annotated[Principal, Depends(auth.organiser("appointments:read"))]

    def carry_out(command: commands.Command, who: Principal):
        require_jurisdiction(who, command.booth_id)
        return _carried_out(adapters, command, who)

    @router.post(
        "/booths/{booth_id}/appointments",
        status_code=201,
        response_model=AppointmentRead,
        responses=problems(404, 409, 429, 503, kinds={429: BUDGETED}),
    )
    def appoint(
        booth_id: BoothId,
        body: AppointmentCreate,
        who: Writer,
        idempotency_key: IdempotencyKey = None,
    ):
        """Appoint a person to a booth seat; an OTP goes to their phone and the appointment waits
        for it."""
        command = commands.Appoint(
            booth_id=booth_id, role=body.role, person=_person(body), key=idempotency_key
        )
        return _read(booth_id, carry_out(command, who))

    @router.post(
        "/booths/{booth_id}/appointments/{appointment_id}/replacement",
        status_code=201,
        response_model=AppointmentRead,
        responses=problems(404, 409, 429, 503, kinds={429: BUDGETED}),
    )
    def replace(
        booth_id: BoothId,
        appointment_id: str,
        body: PersonCreate,
        who: Writer,
        idempotency_key: IdempotencyKey = None,
    ):
        """Put a new person in an appointment's seat; the old appointment becomes `replaced`."""
        command = commands.Replace(
            booth_id=booth_id,
            appointment_id=appointment_id,
            person=_person(body),
            key=idempotency_key,
        )
        return _read(booth_id, carry_out(command, who))

    @router.delete(
        "/booths/{booth_id}/appointments/{appointment_id}",
        response_model=AppointmentRead,
        responses=problems(404, 409, 503),
    )
    def revoke(booth_id: BoothId, appointment_id: str, who: Writer):
        return _read(
            booth_id,
            carry_out(commands.Revoke(booth_id=booth_id, appointment_id=appointment_id), who),
        )

    @router.post(
        "/booths/{booth_id}/appointments/{appointment_id}/otp",
        status_code=202,
        response_model=AppointmentRead,
        responses=RESEND_ANSWERS,
    )
    def resend_otp(booth_id: BoothId, appointment_id: str, who: Writer):
        """Send a new code (the previous one stops working)."""
        command = commands.ResendCode(booth_id=booth_id, appointment_id=appointment_id)
        return _read(booth_id, carry_out(command, who))

    @router.post(
        "/booths/{booth_id}/appointments/{appointment_id}/verification",
        response_model=AppointmentRead,
        responses=VERIFY_ANSWERS,
    )
    def verify(booth_id: BoothId, appointment_id: str, body: VerificationCreate, who: Writer):
        """The code the appointee received, as they read it out; the OTP service checks it."""
        command = commands.VerifyCode(
            booth_id=booth_id, appointment_id=appointment_id, code=body.code
        )
        return verification_answer(_read(booth_id, carry_out(command, who)))

    @router.post(
        "/booths/{booth_id}/appointments/{appointment_id}/unlock",
        response_model=AppointmentRead,
        responses=problems(
            403,
            404,
            409,
            503,
            kinds={
                403: "unlock-not-allowed: below district level, or the appointing organiser",
                409: "wrong-appointment-state: not barred",
            },
        ),
    )
    def unlock(booth_id: BoothId, appointment_id: str, who: Writer):
        """Lift the bar an appointment gets after too many wrong codes in a day; then a new code may
        be asked for. Only an organiser of the district or above who did not appoint the person."""
        return _read(
            booth_id,
            carry_out(commands.Unlock(booth_id=booth_id, appointment_id=appointment_id), who),
        )

    @router.post(
        "/erasures", status_code=201, response_model=ErasureRead, responses=problems(404, 503)
    )
    def erase(body: ErasureCreate, who: Writer):
        """Erase a person's name and phone (DPDP Act): one appointment, or every appointment of a
        phone inside your unit. Active appointments end; the request is audited (who, when, what; no
        phone)."""
        if body.phone is not None and body.booth_id is None and body.appointment_id is None:
            # Within the organiser's unit by construction: only their unit's booths are searched.
            erasure_id, erased = _carried_out(
                adapters, commands.ErasePhone(phone=_normalised(body.phone)), who
            )
        elif body.phone is None and body.booth_id and body.appointment_id:
            command = commands.EraseAppointment(
                booth_id=body.booth_id, appointment_id=body.appointment_id
            )
            erasure_id, erased = carry_out(command, who)
        else:
            raise ProblemError(
                422,
                "validation-error",
                "Name one appointment or one phone",
                "give booth_id and appointment_id, or phone alone",
            )
        return ErasureRead(
            erasure_id=erasure_id,
            erased=[ErasedRead(booth_id=b, appointment_id=a) for b, a in erased],
        )

    @router.get("/booths/{booth_id}/team", response_model=TeamRead, responses=problems(404, 503))
    def booth_team(booth_id: BoothId, who: Reader):
        require_jurisdiction(who, booth_id)
        return _team_read(_team(adapters, booth_id))

    @router.get("/units/{unit_id}/teams", response_model=list[TeamRead], responses=problems(503))
    def unit_teams(
        unit_id: UnitId,
        who: Reader,
        after: str = "",
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ):
        """Teams of the booths under a unit that have any appointment, in booth order; page with
        `after`."""
        require_jurisdiction(who, unit_id)
        return [
            _team_read(team)
            for team in adapters.ports.teams.teams_under(unit_id, after=after, limit=limit)
        ]

    @router.get(
        "/units/{unit_id}/appointments/live",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **problems(503)},
    )
    async def live(unit_id: UnitId, who: Reader, request: Request):
        """Server-sent events: every appointment change under the unit, as it happens."""
        require_jurisdiction(who, unit_id)
        return StreamingResponse(
            _changes(adapters, unit_id, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _changes(adapters: Adapters, unit_id: str, request: Request):
    listener = adapters.live.listen(unit_id)
    try:
        yield ": connected\n\n"
        while not await request.is_disconnected():
            try:
                item = await asyncio.wait_for(listener.queue.get(), timeout=15)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            name = item["type"].split(".")[2]
            yield f"id: {item['id']}\nevent: {name}\ndata: {json.dumps(item)}\n\n"
    finally:
        adapters.live.forget(listener)


def imports_router(adapters: Adapters, auth: Authenticator, slots: "ImportSlots") -> APIRouter:
    router = APIRouter(tags=["appointments"])
    Writer = Annotated[Principal, Depends(auth.organiser("appointments:write"))]

    @router.post(
        "/units/{unit_id}/appointments/import",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/x-ndjson": {}}},
            **problems(
                409,
                413,
                422,
                429,
                503,
                kinds={
                    409: "import-in-progress: this organiser's previous import is still running",
                    413: "body-too-large: over IMPORT_MAX_BYTES; split the file by district",
                    422: "bad-csv",
                    429: "imports-busy: this server runs as many imports as its disk holds",
                },
            ),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/csv": {
                        "schema": {
                            "type": "string",
                            "description": (
                                "A header row naming "
                                f"{', '.join(bulk.REQUIRED_COLUMNS)} "
                                "(channel and locale optional), then one appointment a row"
                            ),
                        }
                    }
                },
            }
        },
    )
    async def bulk_import(unit_id: UnitId, who: Writer, request: Request):
        """Upload a CSV (text/csv) of appointments for a unit; refused rows and a summary stream
        back. An organiser runs one import at a time."""
        require_jurisdiction(who, unit_id)
        try:
            adapters.limits.may_send_to_new_numbers(who.subject)
        except Throttled as spent:
            raise too_many(spent) from None
        slot = slots.take(who.subject)
        try:
            slot.upload = await _spool(request)
            lines = bulk.import_rows(
                adapters.ports,
                slot.upload,
                unit_id=unit_id,
                organiser=who.subject,
                hooks=bulk.organiser_hooks(adapters.ports, who),
            )
            first = await run_in_threadpool(
                next, lines
            )  # a bad header is a 422, before the stream starts
        except BaseException as error:
            slot.release()
            if (problem := _import_problem(error)) is None:
                raise
            raise problem from None
        stream = _import_report(first, lines, slot)
        weakref.finalize(
            stream, slot.release
        )  # a stream never started (the client left first) frees it too
        return StreamingResponse(stream, media_type="application/x-ndjson")

    return router


async def _import_report(first: dict, lines, slot: "ImportSlot"):
    try:
        yield json.dumps(first) + "\n"
        async for line in iterate_in_threadpool(lines):
            yield json.dumps(line) + "\n"
    except (
        bulk.BadFile,
        Throttled,
        LimitsUnavailable,
    ) as error:  # after the stream began: a last line
        problem = _import_problem(error)
        yield json.dumps({"problem": {"type": problem.kind, "detail": problem.detail}}) + "\n"
    finally:
        slot.release()


def _import_problem(error: BaseException) -> ProblemError | None:
    if isinstance(error, bulk.BadFile):
        return ProblemError(422, "bad-csv", "The file cannot be imported", str(error))
    if isinstance(error, Throttled):
        return too_many(error)
    if isinstance(error, LimitsUnavailable):
        return dependency_unavailable("redis")
    return None


class ImportSlots:
    """Room for imports on this pod's disk. Uploads are spooled to /tmp, a volume of a fixed size
    (deploy/k8s/base/appointments): at most IMPORTS_PER_POD at once, each at most IMPORT_MAX_BYTES
    (shared/limits.py refuses larger bodies); and one running import per organiser (a lease)."""

    def __init__(self, limits: AppointmentLimits, places: int):
        self.limits, self.places = limits, threading.BoundedSemaphore(places)

    def take(self, organiser: str) -> "ImportSlot":
        if not self.places.acquire(blocking=False):
            raise ProblemError(
                429,
                "imports-busy",
                "Too many imports at once",
                "this server is running as many imports as it has room for; try again shortly",
                headers={"Retry-After": "30"},
            )
        try:
            leased = self.limits.begin_import(organiser)
        except LimitsUnavailable:
            self.places.release()
            raise
        if not leased:
            self.places.release()
            raise ProblemError(
                409,
                "import-in-progress",
                "An import of yours is still running",
                "wait for your previous import's summary line, then send the next file",
            )
        return ImportSlot(self, organiser)


class ImportSlot:
    """One running import: its place on disk and the organiser's lease, given back once."""

    def __init__(self, slots: ImportSlots, organiser: str):
        self.slots, self.organiser, self.upload = slots, organiser, None
        self._released, self._lock = False, threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        if self.upload is not None:
            self.upload.close()
        self.slots.limits.end_import(self.organiser)
        self.slots.places.release()


async def _spool(request: Request):
    """The request body on disk (memory for small ones); its size is capped as it streams in."""
    upload = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    try:
        async for chunk in request.stream():
            upload.write(chunk)
    except BaseException:
        upload.close()
        raise
    upload.seek(0)
    return upload


def internal_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["internal"])
    RecipientsReader = Annotated[Principal, Depends(auth.service("recipients:read"))]
    AppointeeFinder = Annotated[Principal, Depends(auth.service("appointees:find"))]

    @router.get(
        "/internal/recipients",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/x-ndjson": {}}},
            **problems(404, 503, kinds={503: "recipients-building"}),
        },
    )
    def recipients(unit: str, who: RecipientsReader, roles: str = ""):
        """Verified appointees under a unit, with phones, for the notifier only (service token)."""
        if adapters.ports.registry.get(unit) is None:
            raise ProblemError(
                404, "unknown-unit", "No such unit", f"{unit} is not in the registry"
            )
        wanted = {r for r in roles.split(",") if r} or None
        try:
            rows = adapters.recipients.under(unit, wanted)
        except RecipientsBuilding as exc:
            raise ProblemError(
                503,
                "recipients-building",
                "Recipients are being prepared",
                str(exc),
                headers={"Retry-After": "30"},
            ) from None
        return StreamingResponse(_ndjson_chunks(rows), media_type="application/x-ndjson")

    @router.post("/internal/appointees/search", responses=problems(403, 422, 503))
    def appointees_by_phone(body: PhoneSearch, who: AppointeeFinder) -> AppointeesFound:
        """The verified appointments of a phone (an inbound SMS or WhatsApp reply's sender), for
        the notifier only. The phone travels in the body, never in a URL or a log line."""
        try:
            phone = normalise_mobile(body.phone)
        except InvalidPhone:
            return AppointeesFound(appointees=[])
        found = handlers.verified_with_phone(adapters.ports, phone)
        return AppointeesFound(
            appointees=[
                AppointeeFound(
                    appointment_id=a.id,
                    booth_id=team.booth_id,
                    role=a.role,
                    locale=a.person.locale,
                    channel=a.person.channel,
                )
                for team, a in found
            ]
        )

    return router


class PhoneSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=8, max_length=20, description="personal data: never logged")


class AppointeeFound(BaseModel):
    appointment_id: str
    booth_id: str
    role: str
    locale: str
    channel: str


class AppointeesFound(BaseModel):
    appointees: list[AppointeeFound]


def _ndjson_chunks(rows, size: int = 1000):
    """NDJSON, many lines a chunk: a streamed sync iterator costs a thread hop per item, which
    capped a national recipient stream near 1,200 lines a second when each line was one."""
    chunk = []
    for row in rows:
        chunk.append(json.dumps(row))
        if len(chunk) >= size:
            yield "\n".join(chunk) + "\n"
            chunk = []
    if chunk:
        yield "\n".join(chunk) + "\n"


def create_appointments_app(adapters: Adapters) -> FastAPI:
    # Here, not at the top: the office-bearers' routes reuse this module's schemas and helpers.
    from appointments.offices_api import offices_router

    settings = adapters.settings
    auth = Authenticator(settings)
    routers = [
        units_router(lambda: adapters.org_registry),
        appointments_router(adapters, auth),
        offices_router(adapters, auth),
        imports_router(adapters, auth, ImportSlots(adapters.limits, settings.imports_per_pod)),
        internal_router(adapters, auth),
    ]
    return create_app(
        service=settings.service_name,
        settings=settings,
        checks=adapters.checks,
        routers=routers,
        on_startup=adapters.start,
        on_shutdown=adapters.stop,
        bodies=BodyRules(
            larger=((r"/units/[^/]+/appointments/import", settings.import_max_bytes),)
        ),
    )


app = create_appointments_app(bootstrap(AppointmentsSettings()))
