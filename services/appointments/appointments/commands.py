"""What an organiser asks of the appointments service. The entrypoint builds one from a request;
`handlers.handle` carries it out for the organiser who asked. A `Person` holds personal data:
never log a command whole."""

from dataclasses import dataclass

from appointments.domain import Person


@dataclass(frozen=True)
class Appoint:
    booth_id: str
    role: str
    person: Person
    key: str | None = None  # the client's Idempotency-Key


@dataclass(frozen=True)
class AppointOfficer:
    """A unit's office-bearer (a mandal's president), who names their own booth in the unit."""

    unit_id: str
    role: str
    person: Person
    home_booth: str
    key: str | None = None

    @property
    def booth_id(self) -> str:
        return self.unit_id  # the document every change of the office goes through


@dataclass(frozen=True)
class Replace:
    """A new person in an appointment's seat; the old appointment becomes `replaced`."""

    booth_id: str
    appointment_id: str
    person: Person
    key: str | None = None


@dataclass(frozen=True)
class Revoke:
    booth_id: str
    appointment_id: str


@dataclass(frozen=True)
class ResendCode:
    booth_id: str
    appointment_id: str


@dataclass(frozen=True)
class VerifyCode:
    booth_id: str
    appointment_id: str
    code: str  # as the appointee read it out


@dataclass(frozen=True)
class Unlock:
    booth_id: str
    appointment_id: str


@dataclass(frozen=True)
class EraseAppointment:
    booth_id: str
    appointment_id: str


@dataclass(frozen=True)
class ErasePhone:
    """Every appointment of a phone inside the asking organiser's unit."""

    phone: str  # E.164


Command = (
    Appoint
    | AppointOfficer
    | Replace
    | Revoke
    | ResendCode
    | VerifyCode
    | Unlock
    | EraseAppointment
    | ErasePhone
)
