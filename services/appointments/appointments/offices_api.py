"""HTTP entrypoint for a unit's office-bearers (a mandal's president): the booth routes' commands
on the unit's document. Who may change them: an organiser of the level the catalogue names
(`offices.<level>.appointed_from`: a mandal's, the district) or above, over the unit, never the
unit's own organiser; any organiser over the unit may read them.

    POST   /units/{unit}/appointments                       appoint (an OTP goes to the phone)
    GET    /units/{unit}/office                             the unit's office-bearers
    DELETE /units/{unit}/appointments/{id}                  revoke
    POST   /units/{unit}/appointments/{id}/otp              a new code
    POST   /units/{unit}/appointments/{id}/verification     the code the appointee read out
    POST   /units/{unit}/appointments/{id}/unlock           lift a bar after too many wrong codes

Erasure is `POST /erasures` with the unit's id as `booth_id`, or the phone.
"""

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from appointments import commands
from appointments.api import (
    BUDGETED,
    RESEND_ANSWERS,
    VERIFY_ANSWERS,
    AppointmentCreate,
    AppointmentRead,
    IdempotencyKey,
    VerificationCreate,
    _carried_out,
    _person,
    _read,
    _team,
    verification_answer,
)
from appointments.bootstrap import Adapters
from appointments.domain import Appointment
from shared.auth.access import forbidden
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.orgtree.api import UnitId
from shared.problems import ProblemError, problems
from shared.teams.offices import office_at


class OfficerCreate(AppointmentCreate):
    role: str = Field(pattern=r"^[a-z][a-z0-9_]{1,47}$", examples=["mandal_president"])
    booth_id: str = Field(
        max_length=64,
        description="The office-bearer's own booth, inside the unit: where directives and "
        "meetings reach and count them",
        examples=["IN-HP-D07-A03-M02-S05-B012"],
    )


class OfficerRead(AppointmentRead):
    unit_id: str


class OfficeRead(BaseModel):
    unit_id: str
    unit_path: dict[str, str]
    members: list[OfficerRead]
    history: list[dict]


def _officer(unit_id: str, appointment: Appointment) -> OfficerRead:
    return OfficerRead(**_read(appointment.home_booth, appointment).model_dump(), unit_id=unit_id)


def _require_office(who: Principal, unit_id: str) -> None:
    """404 for a unit without office-bearers; 403 outside the organiser's unit, or from a level
    that does not appoint this unit's office-bearers."""
    office = office_at(unit_id)
    if office is None:
        raise ProblemError(
            404, "unknown-office", "No office-bearers", f"{unit_id} has no office-bearers"
        )
    require_jurisdiction(who, unit_id)
    if not office.may_appoint(who.unit, unit_id):
        raise forbidden(
            "office-not-yours",
            f"a {office.level}'s office-bearers are appointed by an organiser of the "
            f"{office.appointed_from} or above, not of the {office.level} itself",
        )


def offices_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["office-bearers"])
    Writer = Annotated[Principal, Depends(auth.organiser("appointments:write"))]
    Reader = Annotated[Principal, Depends(auth.organiser("appointments:read"))]

    def carry_out(command: commands.Command, who: Principal) -> Appointment:
        _require_office(who, command.booth_id)
        return _carried_out(adapters, command, who)

    @router.post(
        "/units/{unit_id}/appointments",
        status_code=201,
        response_model=OfficerRead,
        responses=problems(403, 404, 409, 429, 503, kinds={429: BUDGETED}),
    )
    def appoint_officer(
        unit_id: UnitId, body: OfficerCreate, who: Writer, idempotency_key: IdempotencyKey = None
    ):
        """Appoint a unit's office-bearer (e.g. a mandal president); an OTP goes to their phone
        and the appointment waits for it, as a booth appointee's does."""
        command = commands.AppointOfficer(
            unit_id=unit_id,
            role=body.role,
            person=_person(body),
            home_booth=body.booth_id,
            key=idempotency_key,
        )
        return _officer(unit_id, carry_out(command, who))

    @router.get("/units/{unit_id}/office", response_model=OfficeRead, responses=problems(404, 503))
    def read_office(unit_id: UnitId, who: Reader):
        """The unit's active office-bearers and the office's history (no names or phones)."""
        require_jurisdiction(who, unit_id)
        if office_at(unit_id) is None:
            raise ProblemError(
                404, "unknown-office", "No office-bearers", f"{unit_id} has no office-bearers"
            )
        office = _team(adapters, unit_id)
        return OfficeRead(
            unit_id=unit_id,
            unit_path=office.booth_path,
            members=[_officer(unit_id, a) for a in office.active()],
            history=office.history,
        )

    @router.delete(
        "/units/{unit_id}/appointments/{appointment_id}",
        response_model=OfficerRead,
        responses=problems(403, 404, 409, 503),
    )
    def revoke_officer(unit_id: UnitId, appointment_id: str, who: Writer):
        command = commands.Revoke(booth_id=unit_id, appointment_id=appointment_id)
        return _officer(unit_id, carry_out(command, who))

    @router.post(
        "/units/{unit_id}/appointments/{appointment_id}/otp",
        status_code=202,
        response_model=OfficerRead,
        responses={**problems(403), **RESEND_ANSWERS},
    )
    def resend_officer_otp(unit_id: UnitId, appointment_id: str, who: Writer):
        """Send a new code (the previous one stops working)."""
        command = commands.ResendCode(booth_id=unit_id, appointment_id=appointment_id)
        return _officer(unit_id, carry_out(command, who))

    @router.post(
        "/units/{unit_id}/appointments/{appointment_id}/verification",
        response_model=OfficerRead,
        responses={**problems(403), **VERIFY_ANSWERS},
    )
    def verify_officer(unit_id: UnitId, appointment_id: str, body: VerificationCreate, who: Writer):
        """The code the office-bearer received, as they read it out; the OTP service checks it."""
        command = commands.VerifyCode(
            booth_id=unit_id, appointment_id=appointment_id, code=body.code
        )
        return verification_answer(_officer(unit_id, carry_out(command, who)))

    @router.post(
        "/units/{unit_id}/appointments/{appointment_id}/unlock",
        response_model=OfficerRead,
        responses=problems(403, 404, 409, 503),
    )
    def unlock_officer(unit_id: UnitId, appointment_id: str, who: Writer):
        """Lift the bar after too many wrong codes: an organiser of the district or above who
        did not appoint the person."""
        command = commands.Unlock(booth_id=unit_id, appointment_id=appointment_id)
        return _officer(unit_id, carry_out(command, who))

    return router
