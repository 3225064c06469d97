"""HTTP entrypoint of the appointments service: translates requests, nothing more."""

import asyncio
import json
import tempfile
import threading
import weakref
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from appointments import bulk, handlers
from appointments.adapters.mongo import ConcurrentUpdate
from appointments.adapters.otp_client import OtpThrottled, OtpUnavailable
from appointments.adapters.recipients import RecipientsBuilding
from appointments.bootstrap import bootstrap
from appointments.domain import LOCALE, PRESIDENT, VERIFIED, Appointment, BoothTeam, DomainError, Person
from appointments.phones import InvalidPhone, mask, normalise_mobile
from appointments.settings import AppointmentsSettings
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.http import create_app
from shared.limits import BodyRules
from shared.logging import get_logger
from shared.orgtree.api import BoothId, UnitId, units_router
from shared.problems import ProblemError, dependency_unavailable, problems
from shared.ratelimit import LimitsUnavailable, Throttled

log = get_logger(__name__)
settings = AppointmentsSettings()
adapters = bootstrap(settings)
auth = Authenticator(settings)

Writer = Annotated[Principal, Depends(auth.organiser("appointments:write"))]
Reader = Annotated[Principal, Depends(auth.organiser("appointments:read"))]
RecipientsReader = Annotated[Principal, Depends(auth.service("recipients:read"))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class PersonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown field is refused, never silently dropped

    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=6, max_length=24, description="An Indian mobile; any common format")
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
        id=a.id, booth_id=booth_id, role=a.role, status=a.status, name=a.person.name, phone=mask(a.person.phone),
        gender=a.person.gender, channel=a.person.channel, appointed_by=a.appointed_by, appointed_at=a.appointed_at,
        verified_at=a.verified_at, ended_at=a.ended_at, replaces=a.replaces, otp_failure=a.otp_failure)


def _team_read(team: BoothTeam) -> TeamRead:
    return TeamRead(booth_id=team.booth_id, booth_path=team.booth_path, complete=team.is_complete(),
                    missing=team.rules.missing(team.verified_members()),
                    members=[_read(team.booth_id, a) for a in team.appointments if a.active],
                    history=team.history)


def _person(body: PersonCreate) -> Person:
    return Person(name=body.name.strip(), phone=_normalised(body.phone), gender=body.gender, channel=body.channel,
                  locale=body.locale)


def _normalised(phone: str) -> str:
    try:
        return normalise_mobile(phone)
    except InvalidPhone as bad:
        raise ProblemError(422, "invalid-phone", "The phone number is not valid", f"phone: {bad}",
                           errors=[{"field": "phone", "reason": str(bad)}]) from None


def _problem(error: DomainError) -> ProblemError:
    errors = [{"field": error.field, "reason": error.detail}] if error.field else []
    return ProblemError(error.status, error.kind, error.title, error.detail, errors=errors)


def _call(fn, **kwargs):
    try:
        return fn(adapters.context, **kwargs)
    except handlers.PresidentElsewhere:
        raise  # told as the organiser may see it (_appoint)
    except DomainError as error:
        raise _problem(error) from None
    except ConcurrentUpdate:
        raise ProblemError(503, "busy-booth", "The booth team is being changed by others",
                           "several changes to this booth collided; retry in a moment",
                           headers={"Retry-After": "1"}) from None
    except OtpThrottled as exc:
        raise ProblemError(429, "too-many-requests", "Too many requests", "the OTP service's budget for you is spent",
                           headers={"Retry-After": str(exc.retry_after_s)}) from None
    except OtpUnavailable:
        raise dependency_unavailable("otp") from None


def _within_budget(spend) -> None:
    """Spend (or check) a budget: 429 once it is spent. Budgets that cannot be read (Redis away)
    are the shared 503 `dependency-unavailable` (shared/problems.py)."""
    try:
        spend()
    except Throttled as spent:
        raise too_many(spent) from None


def too_many(spent: Throttled) -> ProblemError:
    return ProblemError(429, "too-many-requests", "Too many requests", str(spent),
                        headers={"Retry-After": str(spent.retry_after_s)})


router = APIRouter(tags=["appointments"])


@router.post("/booths/{booth_id}/appointments", status_code=201, response_model=AppointmentRead,
             responses=problems(404, 409, 429, 503, kinds={429: "too-many-requests: this organiser's budget"}))
def appoint(booth_id: BoothId, body: AppointmentCreate, who: Writer, idempotency_key: IdempotencyKey = None):
    """Appoint a person to a booth seat; an OTP goes to their phone and the appointment waits for it."""
    require_jurisdiction(who, booth_id)
    appointment = _appoint(who, booth_id=booth_id, role=body.role, person=_person(body), key=idempotency_key)
    return _read(booth_id, appointment)


@router.post("/booths/{booth_id}/appointments/{appointment_id}/replacement", status_code=201,
             response_model=AppointmentRead,
             responses=problems(404, 409, 429, 503, kinds={429: "too-many-requests: this organiser's budget"}))
def replace(booth_id: BoothId, appointment_id: str, body: PersonCreate, who: Writer,
            idempotency_key: IdempotencyKey = None):
    """Put a new person in an appointment's seat; the old appointment becomes `replaced`."""
    require_jurisdiction(who, booth_id)
    role = _call(handlers.seat_of, booth_id=booth_id, appointment_id=appointment_id)
    appointment = _appoint(who, booth_id=booth_id, role=role, person=_person(body), key=idempotency_key,
                           replaces=appointment_id)
    return _read(booth_id, appointment)


def _appoint(who: Principal, *, role: str, **kwargs) -> Appointment:
    """handlers.appoint, with "already president elsewhere" told only inside the organiser's
    unit, every such refusal audited, and few of them an hour (see AppointmentLimits)."""
    _within_budget(lambda: adapters.limits.may_send_to_new_numbers(who.subject))
    if role == PRESIDENT:
        _within_budget(lambda: adapters.limits.may_try_president(who.subject))
    try:
        appointment = _call(handlers.appoint, role=role, organiser=who.subject, **kwargs)
    except handlers.PresidentElsewhere as refused:
        _president_refused(who, kwargs["booth_id"], refused)
        raise _problem(handlers.as_seen_by(refused, who.unit)) from None
    adapters.limits.sent_to(who.subject, appointment.person.phone)
    return appointment


def _import_hooks(who: Principal) -> bulk.Hooks:
    return bulk.Hooks(seen=lambda refused, booth_id: _seen_in_import(who, booth_id, refused),
                      sent=lambda phone: adapters.limits.sent_to(who.subject, phone),
                      # Over the day's new numbers, the rest of the file waits for tomorrow.
                      next_batch=lambda: adapters.limits.may_send_to_new_numbers(who.subject))


def _seen_in_import(who: Principal, booth_id: str, refused: handlers.PresidentElsewhere) -> DomainError:
    """A bulk row refused for a president elsewhere: audited and counted like a single one; the
    import ends once the organiser's budget is spent (Throttled)."""
    _president_refused(who, booth_id, refused, spent_ends=True)
    return handlers.as_seen_by(refused, who.unit)


def _president_refused(who: Principal, booth_id: str, refused: handlers.PresidentElsewhere,
                       spent_ends: bool = False) -> None:
    # The audit line names who asked and where, never the phone.
    log.warning("president post refused", fields={
        "organiser": who.subject, "unit": who.unit, "booth_id": booth_id,
        "holder_in_jurisdiction": who.may_act_in(refused.holder_booth)})
    try:
        adapters.limits.president_refusal(who.subject)
    except Throttled:
        if spent_ends:
            raise
    except LimitsUnavailable:
        pass  # counted or not, this refusal is answered


@router.delete("/booths/{booth_id}/appointments/{appointment_id}", response_model=AppointmentRead,
               responses=problems(404, 409, 503))
def revoke(booth_id: BoothId, appointment_id: str, who: Writer):
    require_jurisdiction(who, booth_id)
    return _read(booth_id, _call(handlers.revoke, booth_id=booth_id, appointment_id=appointment_id,
                                 organiser=who.subject))


@router.post("/booths/{booth_id}/appointments/{appointment_id}/otp", status_code=202, response_model=AppointmentRead,
             responses=problems(404, 409, 429, 503, kinds={
                 409: "wrong-appointment-state or appointment-barred",
                 429: "too-many-requests: this organiser's or appointment's budget"}))
def resend_otp(booth_id: BoothId, appointment_id: str, who: Writer):
    """Send a new code (the previous one stops working)."""
    require_jurisdiction(who, booth_id)
    _within_budget(lambda: adapters.limits.resend(who.subject, appointment_id))
    return _read(booth_id, _call(handlers.request_otp_again, booth_id=booth_id, appointment_id=appointment_id,
                                 organiser=who.subject))


@router.post("/booths/{booth_id}/appointments/{appointment_id}/verification", response_model=AppointmentRead,
             responses={202: {"description": "Code accepted; the appointment turns verified in a moment"},
                        **problems(404, 409, 422, 429, 503, kinds={
                            409: "wrong-appointment-state, appointment-barred, or code-not-usable (locked, expired "
                                 "or undelivered: ask for a new code)",
                            422: "otp-rejected",
                            429: "too-many-requests: this organiser's or appointment's budget"})})
def verify(booth_id: BoothId, appointment_id: str, body: VerificationCreate, who: Writer):
    """The code the appointee received, as they read it out; the OTP service checks it."""
    require_jurisdiction(who, booth_id)
    _within_budget(lambda: adapters.limits.verification(who.subject, appointment_id))
    appointment = _call(handlers.verify_code, booth_id=booth_id, appointment_id=appointment_id, code=body.code,
                        organiser=who.subject)
    if appointment.status == VERIFIED:
        return _read(booth_id, appointment)
    return JSONResponse(_read(booth_id, appointment).model_dump(mode="json"), status_code=202)


@router.post("/booths/{booth_id}/appointments/{appointment_id}/unlock", response_model=AppointmentRead,
             responses=problems(403, 404, 409, 503, kinds={
                 403: "unlock-not-allowed: below district level, or the appointing organiser",
                 409: "wrong-appointment-state: not barred"}))
def unlock(booth_id: BoothId, appointment_id: str, who: Writer):
    """Lift the bar an appointment gets after too many wrong codes in a day; then a new code
    may be asked for. Only an organiser of the district or above who did not appoint the person."""
    require_jurisdiction(who, booth_id)
    appointment = _call(handlers.unlock, booth_id=booth_id, appointment_id=appointment_id,
                        organiser=who.subject, unit=who.unit)
    log.info("appointment unlocked", fields={"organiser": who.subject, "unit": who.unit, "booth_id": booth_id,
                                             "appointment_id": appointment_id})
    return _read(booth_id, appointment)


@router.post("/erasures", status_code=201, response_model=ErasureRead, responses=problems(404, 503))
def erase(body: ErasureCreate, who: Writer):
    """Erase a person's name and phone (DPDP Act): one appointment, or every appointment of a phone
    inside your unit. Active appointments end; the request is audited (who, when, what; no phone)."""
    if body.phone is not None and body.booth_id is None and body.appointment_id is None:
        phone = _normalised(body.phone)
        erasure_id, erased = _call(handlers.erase_person, phone=phone, requested_by=who.subject, unit=who.unit)
    elif body.phone is None and body.booth_id and body.appointment_id:
        require_jurisdiction(who, body.booth_id)
        erasure_id = _call(handlers.erase_appointment, booth_id=body.booth_id, appointment_id=body.appointment_id,
                           requested_by=who.subject, unit=who.unit)
        erased = [(body.booth_id, body.appointment_id)]
    else:
        raise ProblemError(422, "validation-error", "Name one appointment or one phone",
                           "give booth_id and appointment_id, or phone alone")
    return ErasureRead(erasure_id=erasure_id, erased=[ErasedRead(booth_id=b, appointment_id=a) for b, a in erased])


@router.get("/booths/{booth_id}/team", response_model=TeamRead, responses=problems(404, 503))
def booth_team(booth_id: BoothId, who: Reader):
    require_jurisdiction(who, booth_id)
    return _team_read(_call(handlers.load_team, booth_id=booth_id))


@router.get("/units/{unit_id}/teams", response_model=list[TeamRead], responses=problems(503))
def unit_teams(unit_id: UnitId, who: Reader, after: str = "", limit: Annotated[int, Query(ge=1, le=500)] = 100):
    """Teams of the booths under a unit that have any appointment, in booth order; page with `after`."""
    require_jurisdiction(who, unit_id)
    return [_team_read(t) for t in adapters.context.teams.teams_under(unit_id, after=after, limit=limit)]


@router.get("/units/{unit_id}/appointments/live", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}, **problems(503)})
async def live(unit_id: UnitId, who: Reader, request: Request):
    """Server-sent events: every appointment change under the unit, as it happens."""
    require_jurisdiction(who, unit_id)
    listener = adapters.live.listen(unit_id)

    async def events():
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

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/units/{unit_id}/appointments/import", response_class=StreamingResponse,
             responses={200: {"content": {"application/x-ndjson": {}}},
                        **problems(409, 413, 422, 429, 503, kinds={
                            409: "import-in-progress: this organiser's previous import is still running",
                            413: "body-too-large: over IMPORT_MAX_BYTES; split the file by district",
                            422: "bad-csv",
                            429: "imports-busy: this server runs as many imports as its disk holds"})},
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {
                 "type": "string", "description": f"A header row naming {', '.join(bulk.REQUIRED_COLUMNS)} "
                                                  "(channel and locale optional), then one appointment a row"}}}}})
async def bulk_import(unit_id: UnitId, who: Writer, request: Request):
    """Upload a CSV (text/csv) of appointments for a unit; refused rows and a summary stream back.
    An organiser runs one import at a time."""
    require_jurisdiction(who, unit_id)
    _within_budget(lambda: adapters.limits.may_send_to_new_numbers(who.subject))
    slot = _ImportSlot.take(who.subject)
    try:
        slot.upload = await _spool(request)
        lines = bulk.import_rows(adapters.context, slot.upload, unit_id=unit_id, organiser=who.subject,
                                 hooks=_import_hooks(who))
        first = await run_in_threadpool(next, lines)  # a bad header is a 422, before the stream starts
    except BaseException as error:
        slot.release()
        if (problem := _import_problem(error)) is None:
            raise
        raise problem from None

    async def report():
        try:
            yield json.dumps(first) + "\n"
            async for line in iterate_in_threadpool(lines):
                yield json.dumps(line) + "\n"
        except (bulk.BadFile, Throttled, LimitsUnavailable) as error:  # after the stream began: a last line
            problem = _import_problem(error)
            yield json.dumps({"problem": {"type": problem.kind, "detail": problem.detail}}) + "\n"
        finally:
            slot.release()

    stream = report()
    weakref.finalize(stream, slot.release)  # a stream never started (the client left first) frees it too
    return StreamingResponse(stream, media_type="application/x-ndjson")


def _import_problem(error: BaseException) -> ProblemError | None:
    if isinstance(error, bulk.BadFile):
        return ProblemError(422, "bad-csv", "The file cannot be imported", str(error))
    if isinstance(error, Throttled):
        return too_many(error)
    if isinstance(error, LimitsUnavailable):
        return dependency_unavailable("redis")
    return None


class _ImportSlot:
    """One running import: a place on this pod's disk and the organiser's lease, given back once.

    Uploads are spooled to /tmp, a volume of a fixed size (deploy/k8s/base/appointments): at most
    IMPORTS_PER_POD at once, each at most IMPORT_MAX_BYTES (shared/limits.py refuses larger bodies)."""

    places = threading.BoundedSemaphore(settings.imports_per_pod)

    def __init__(self, organiser: str):
        self.organiser, self.upload, self._released, self._lock = organiser, None, False, threading.Lock()

    @classmethod
    def take(cls, organiser: str) -> "_ImportSlot":
        if not cls.places.acquire(blocking=False):
            raise ProblemError(429, "imports-busy", "Too many imports at once",
                               "this server is running as many imports as it has room for; try again shortly",
                               headers={"Retry-After": "30"})
        try:
            leased = adapters.limits.begin_import(organiser)
        except LimitsUnavailable:
            cls.places.release()
            raise
        if not leased:
            cls.places.release()
            raise ProblemError(409, "import-in-progress", "An import of yours is still running",
                               "wait for your previous import's summary line, then send the next file")
        return cls(organiser)

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        if self.upload is not None:
            self.upload.close()
        adapters.limits.end_import(self.organiser)
        self.places.release()


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


internal = APIRouter(tags=["internal"])


@internal.get("/internal/recipients", response_class=StreamingResponse,
              responses={200: {"content": {"application/x-ndjson": {}}},
                         **problems(404, 503, kinds={503: "recipients-building"})})
def recipients(unit: str, who: RecipientsReader, roles: str = ""):
    """Verified appointees under a unit, with phones, for the notifier only (service token)."""
    if adapters.context.registry.get(unit) is None:
        raise ProblemError(404, "unknown-unit", "No such unit", f"{unit} is not in the registry")
    wanted = {r for r in roles.split(",") if r} or None
    try:
        rows = adapters.recipients.under(unit, wanted)
    except RecipientsBuilding as exc:
        raise ProblemError(503, "recipients-building", "Recipients are being prepared", str(exc),
                           headers={"Retry-After": "30"}) from None
    return StreamingResponse(_ndjson_chunks(rows), media_type="application/x-ndjson")


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


app = create_app(
    service=settings.service_name,
    settings=settings,
    checks=adapters.checks,
    routers=[units_router(lambda: adapters.org_registry), router, internal],
    on_startup=adapters.start,
    on_shutdown=adapters.stop,
    bodies=BodyRules(larger=((r"/units/[^/]+/appointments/import", settings.import_max_bytes),)),
)
