"""The booth team: appointments, their life cycle, and the events each change owes the world.

Pure: no I/O. A `BoothTeam` is one document (its id is the booth's), changed only through the
methods below; every change appends the events it caused to `outbox` in the same object, so the
repository saves state and events in one atomic document write (the transactional outbox).
"""

import copy
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.events import types
from shared.events.contracts import InvalidEventError, validate
from shared.orgtree.levels import is_within, level_of
from shared.teams.rules import PRESIDENT, TeamRules

PENDING = "pending_verification"
VERIFIED = "verified"
REPLACED = "replaced"
REVOKED = "revoked"
ACTIVE = (PENDING, VERIFIED)
GENDERS = ("female", "male", "other")
CHANNELS = ("sms", "whatsapp")
LOCALE = r"^[a-z]{2,3}(-[A-Z]{2})?$"  # a language, optionally a region: hi, en-IN
IDEMPOTENCY_KEYS_KEPT = 50  # per booth; a retry comes within minutes, not after 50 other writes
# A code allows 5 tries and 5 codes go out per 10 minutes, ~3,600 guesses a day; across every
# code of an appointment, WRONG_CODES_ALLOWED wrong ones in WRONG_CODES_WINDOW bar it until an
# organiser of UNLOCK_LEVELS who did not appoint it unlocks it.
WRONG_CODES_ALLOWED = 20
WRONG_CODES_WINDOW = timedelta(hours=24)
BARRED = "barred"  # otp_failure once the wrong codes are spent
UNLOCK_LEVELS = ("national", "state", "district")


class DomainError(Exception):
    """A request the rules refuse. `kind` names the problem type; `field` the input at fault."""

    status = 422
    kind = "rule-broken"
    title = "The change was refused"

    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.detail, self.field = detail, field


class RoleFilled(DomainError):
    status, kind = 409, "role-already-filled"


class RuleBroken(DomainError):
    status, kind = 422, "rule-broken"


class NotFound(DomainError):
    status, kind = 404, "appointment-not-found"


class WrongState(DomainError):
    status, kind = 409, "wrong-appointment-state"


class Barred(DomainError):
    status, kind, title = 409, "appointment-barred", "Too many wrong codes"


class CodeNotUsable(DomainError):
    status, kind, title = 409, "code-not-usable", "This code can no longer be used"


class CodeRejected(DomainError):
    status, kind, title = 422, "otp-rejected", "The code was not accepted"


class NotHigher(DomainError):
    status, kind = 403, "unlock-not-allowed"


class IdempotencyKeyReused(DomainError):
    status, kind = 422, "idempotency-key-reused"


@dataclass(frozen=True)
class Person:
    name: str
    phone: str  # E.164, already normalised
    gender: str
    channel: str = "sms"
    locale: str = "hi"


@dataclass
class Appointment:
    id: str
    role: str
    person: Person
    status: str
    appointed_by: str
    appointed_at: datetime
    replaces: str | None = None
    otp_request_id: str | None = None
    verified_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    otp_failure: str | None = None  # the last otp-failed reason, or BARRED; shown on the portal
    wrong_codes: list[datetime] = field(default_factory=list)  # within WRONG_CODES_WINDOW
    erased_at: datetime | None = None  # name and phone scrubbed (an erasure request, or retention)
    home_booth: str | None = None  # a unit's office-bearer's own booth (offices.py); None in a team

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class BoothTeam:
    booth_id: str
    booth_path: dict[str, str]  # state, district, assembly, mandal, sector ids
    rules: TeamRules
    appointments: list[Appointment] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, dict[str, str]] = field(default_factory=dict)
    seen_events: list[str] = field(default_factory=list)  # consumed event ids, for de-duplication
    version: int = 0

    # ------------------------------------------------------------------ reading

    def active(self) -> list[Appointment]:
        return [a for a in self.appointments if a.active]

    def get(self, appointment_id: str) -> Appointment:
        for a in self.appointments:
            if a.id == appointment_id:
                return a
        raise NotFound(f"booth {self.booth_id} has no appointment {appointment_id}")

    def president(self) -> Appointment | None:
        return next((a for a in self.active() if a.role == PRESIDENT), None)

    def verified_members(self) -> list[tuple[str, str]]:
        return [(a.role, a.person.gender) for a in self.active() if a.status == VERIFIED]

    def is_complete(self) -> bool:
        """Complete counts verified members only: an unconfirmed phone is not yet a team member."""
        return self.rules.is_complete(self.verified_members())

    def verified(self, role: str) -> list[Appointment]:
        """The verified appointees of a role: who a directive to that role reaches at this booth."""
        return [a for a in self.appointments if a.status == VERIFIED and a.role == role]

    # ------------------------------------------------------------------ changes

    def appoint(
        self,
        *,
        role: str,
        person: Person,
        organiser: str,
        now: datetime,
        idempotency_key: str | None = None,
        replaces: str | None = None,
        home_booth: str | None = None,
    ) -> Appointment:
        """Appoint a person to a seat; pending until their OTP is confirmed.

        Retrying is safe: the same Idempotency-Key, or the same person already active in the
        same role, returns the existing appointment and changes nothing.
        """
        if idempotency_key and (earlier := self.idempotency.get(idempotency_key)):
            first = self.get(earlier["appointment_id"])
            if not _same_request(first, role, person, replaces):
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            return first
        if person.gender not in GENDERS:
            raise RuleBroken(f"gender must be one of {', '.join(GENDERS)}", "gender")
        if person.channel not in CHANNELS:
            raise RuleBroken(f"channel must be one of {', '.join(CHANNELS)}", "channel")
        if not re.fullmatch(LOCALE, person.locale):
            raise RuleBroken("locale must be a language code such as hi or en-IN", "locale")
        same = next((a for a in self.active() if a.person.phone == person.phone), None)
        if same and same.role == role and replaces is None:
            return same
        if same:
            raise RuleBroken(
                f"this person already holds the {same.role} seat in this booth", "phone"
            )

        outgoing = self.get(replaces) if replaces else None
        if outgoing and not outgoing.active:
            raise WrongState(
                f"appointment {replaces} is {outgoing.status}; only an active one can be replaced"
            )
        if outgoing and outgoing.role != role:
            raise RuleBroken(
                f"a replacement takes the same seat ({outgoing.role}), not {role}", "role"
            )
        others = [(a.role, a.person.gender) for a in self.active() if a is not outgoing]
        if why := self.rules.violation(others, role):
            error = RoleFilled if "already filled" in why else RuleBroken
            raise error(why, "role")

        appointment = Appointment(
            id=str(uuid.uuid4()),
            role=role,
            person=person,
            status=PENDING,
            appointed_by=organiser,
            appointed_at=now,
            replaces=replaces,
            home_booth=home_booth,
        )
        # A bulk import saves the team after refused rows, so a refusal below undoes every change.
        before = copy.deepcopy((self.appointments, self.history, self.outbox))
        try:
            self._appoint(appointment, outgoing, organiser, now)
        except RuleBroken:
            self.appointments, self.history, self.outbox = before
            raise
        if idempotency_key:
            self._remember(idempotency_key, appointment.id)
        return appointment

    def _appoint(
        self, appointment: Appointment, outgoing: Appointment | None, organiser: str, now: datetime
    ) -> None:
        role, replaces = appointment.role, appointment.replaces
        self.appointments.append(appointment)
        event_type = (
            types.BOOTH_PRESIDENT_APPOINTED if role == PRESIDENT else types.BOOTH_MEMBER_APPOINTED
        )
        self._record(
            event_type,
            "appointed",
            appointment,
            organiser,
            now,
            {
                "organiser_id": organiser,
                "replaces_appointment_id": replaces,
                "appointed_at": now.isoformat(),
            },
        )
        if outgoing:
            self._end(outgoing, REPLACED, organiser, now, replaced_by=appointment.id)
        self._request_otp(appointment, organiser, now)

    def revoke(self, appointment_id: str, *, organiser: str, now: datetime) -> Appointment:
        appointment = self.get(appointment_id)
        if not appointment.active:
            if appointment.status == REVOKED:
                return appointment  # a retried revocation
            raise WrongState(f"appointment {appointment_id} is {appointment.status}")
        self._end(appointment, REVOKED, organiser, now)
        return appointment

    def request_otp_again(
        self, appointment_id: str, *, organiser: str, now: datetime
    ) -> Appointment:
        appointment = self.get(appointment_id)
        if appointment.status != PENDING:
            raise WrongState(
                f"appointment {appointment_id} is {appointment.status}; "
                "only a pending one needs a code"
            )
        if appointment.otp_failure == BARRED:
            raise Barred(
                f"{WRONG_CODES_ALLOWED} wrong codes in a day: "
                "an organiser of the district or above who did not appoint this person "
                "must unlock it first"
            )
        self._request_otp(appointment, organiser, now)
        return appointment

    def code_to_check(self, appointment_id: str) -> Appointment | None:
        """The appointment whose code the OTP service may be asked to check; None if it is
        verified already (a retried verification)."""
        appointment = self.get(appointment_id)
        if appointment.status == VERIFIED:
            return None
        if appointment.status != PENDING or not appointment.otp_request_id:
            raise WrongState(f"appointment {appointment_id} is {appointment.status}")
        if appointment.otp_failure == BARRED:
            raise Barred(
                "an organiser of the district or above who did not appoint this person "
                "must unlock it"
            )
        if appointment.otp_failure:
            # The OTP service said this code is locked, expired or was never delivered: asking it
            # again can only spend its budget, which every organiser shares.
            raise CodeNotUsable(f"the code was {appointment.otp_failure}; ask for a new code")
        return appointment

    def confirm_otp(
        self, *, appointment_id: str, otp_request_id: str, event_id: str, now: datetime
    ) -> bool:
        """The OTP service confirmed the code: the appointment is verified. False if nothing
        changed."""
        if self._seen(event_id):
            return False
        appointment = self.get(appointment_id)
        if appointment.status != PENDING or appointment.otp_request_id != otp_request_id:
            return False  # revoked meanwhile, or a code from a superseded request
        appointment.status, appointment.verified_at, appointment.otp_failure = VERIFIED, now, None
        self._record(
            types.APPOINTMENT_VERIFIED,
            "verified",
            appointment,
            "svc:otp",
            now,
            {"otp_request_id": otp_request_id, "verified_at": now.isoformat()},
        )
        return True

    def otp_failed(
        self, *, appointment_id: str, otp_request_id: str, reason: str, event_id: str, now: datetime
    ) -> bool:
        if self._seen(event_id):
            return False
        appointment = self.get(appointment_id)
        if appointment.status != PENDING or appointment.otp_request_id != otp_request_id:
            return False
        if appointment.otp_failure == BARRED:
            return False  # the bar says more than the code's own end
        appointment.otp_failure = reason
        self.history.append(_entry(now, "otp_failed", appointment, "svc:otp", reason=reason))
        return True

    def code_rejected(self, appointment_id: str, *, now: datetime) -> bool:
        """The OTP service refused a code for this appointment; True if that bars it."""
        appointment = self.get(appointment_id)
        recent = [at for at in appointment.wrong_codes if now - at < WRONG_CODES_WINDOW] + [now]
        appointment.wrong_codes = recent
        if len(recent) < WRONG_CODES_ALLOWED or appointment.otp_failure == BARRED:
            return False
        appointment.otp_failure = BARRED
        self.history.append(
            _entry(now, "barred", appointment, "svc:appointments", wrong_codes=len(recent))
        )
        return True

    def unlock(
        self, appointment_id: str, *, organiser: str, unit: str, now: datetime
    ) -> Appointment:
        """Lift a bar: only an organiser of the district or above, over this booth, who did not
        appoint the person (the one whose tries ran out cannot undo it themselves)."""
        appointment = self.get(appointment_id)
        if appointment.otp_failure != BARRED:
            raise WrongState(f"appointment {appointment_id} is not barred")
        if level_of(unit) not in UNLOCK_LEVELS or not is_within(self.booth_id, unit):
            raise NotHigher(
                "only an organiser of the booth's district, state or the national team may unlock"
            )
        if organiser == appointment.appointed_by:
            raise NotHigher(
                "the organiser who appointed this person cannot unlock it; ask the one above you"
            )
        appointment.otp_failure, appointment.wrong_codes = None, []
        self.history.append(_entry(now, "unlocked", appointment, organiser))
        return appointment

    def erase(
        self, appointment_id: str, *, by: str, reason: str, erasure_id: str, now: datetime
    ) -> Appointment:
        """Scrub the appointee's name and phone (DPDP Act): an active appointment ends first, an
        unsent code request is dropped, and consumers holding copies are told. Safe to repeat."""
        appointment = self.get(appointment_id)
        if appointment.erased_at is not None:
            return appointment
        if appointment.active:
            self._end(appointment, REVOKED, by, now)
        person = appointment.person
        appointment.person = Person(
            name="", phone="", gender=person.gender, channel=person.channel, locale=person.locale
        )
        appointment.erased_at = now
        self.outbox = [
            e
            for e in self.outbox
            if not (e["data"].get("appointment_id") == appointment_id and "phone" in e["data"])
        ]
        self.idempotency = {
            k: v for k, v in self.idempotency.items() if v["appointment_id"] != appointment_id
        }
        self.outbox.append(
            _event(
                types.PERSON_ERASED,
                now,
                {
                    "erasure_id": erasure_id,
                    "appointment_id": appointment_id,
                    "booth_id": self.booth_id,
                    "requested_by": by,
                    "reason": reason,
                    "erased_at": now.isoformat(),
                },
            )
        )
        self.history.append(_entry(now, "erased", appointment, by, reason=reason))
        return appointment

    def ended_before(self, cutoff: datetime) -> list[Appointment]:
        """Appointments that ended before `cutoff` and still hold a person: due for retention."""
        return [
            a
            for a in self.appointments
            if a.ended_at is not None and a.ended_at < cutoff and a.erased_at is None
        ]

    def discard(self, appointment_id: str) -> None:
        """Take back an appointment made in this unsaved change (its seat was refused elsewhere)."""
        self.appointments = [a for a in self.appointments if a.id != appointment_id]
        self.outbox = [e for e in self.outbox if e["data"].get("appointment_id") != appointment_id]
        self.history = [h for h in self.history if h["appointment_id"] != appointment_id]

    def take_outbox(self, event_ids: set[str]) -> None:
        """Drop events the relay has published."""
        self.outbox = [e for e in self.outbox if e["id"] not in event_ids]

    # ------------------------------------------------------------------ internals

    def _end(
        self,
        appointment: Appointment,
        status: str,
        organiser: str,
        now: datetime,
        replaced_by: str | None = None,
    ) -> None:
        appointment.status, appointment.ended_at, appointment.ended_by = status, now, organiser
        self._record(
            types.APPOINTMENT_REVOKED,
            status,
            appointment,
            organiser,
            now,
            {
                "organiser_id": organiser,
                "reason": status,
                "replaced_by_appointment_id": replaced_by,
                "revoked_at": now.isoformat(),
            },
        )

    def _request_otp(self, appointment: Appointment, organiser: str, now: datetime) -> None:
        appointment.otp_request_id = str(uuid.uuid4())
        appointment.otp_failure = None
        # The only event carrying a phone; it goes to the OTP service's short-lived topic.
        self.outbox.append(
            _event(
                types.OTP_REQUESTED,
                now,
                {
                    "request_id": appointment.otp_request_id,
                    "appointment_id": appointment.id,
                    "booth_id": self.booth_id,
                    "phone": appointment.person.phone,
                    "channel": appointment.person.channel,
                    "purpose": "appointment_verification",
                    "locale": appointment.person.locale,
                    "requested_by": organiser,
                    "requested_at": now.isoformat(),
                },
            )
        )
        self.history.append(_entry(now, "otp_requested", appointment, organiser))

    def _record(
        self,
        event_type: str,
        action: str,
        appointment: Appointment,
        by: str,
        now: datetime,
        extra: dict[str, Any],
    ) -> None:
        change = Change(event_type, action, appointment, by, now, extra)
        self.outbox.append(self._announcement(change))
        self.history.append(_entry(now, action, appointment, by))

    def _announcement(self, change: "Change") -> dict[str, Any]:
        """The event a change goes out as: a booth team's names the booth and its path."""
        appointment = change.appointment
        data = {
            "appointment_id": appointment.id,
            "booth_id": self.booth_id,
            "booth_path": self.booth_path,
            "role": appointment.role,
            "gender": appointment.person.gender,
            **change.extra,
        }
        return _event(change.event_type, change.now, data)

    def _remember(self, key: str, appointment_id: str) -> None:
        # Only the appointment: a retry is compared with what it made, so nothing derived from the
        # request (a hash of a name and phone, guessable over India's 10^10 numbers) is kept.
        self.idempotency[key] = {"appointment_id": appointment_id}
        while len(self.idempotency) > IDEMPOTENCY_KEYS_KEPT:
            self.idempotency.pop(next(iter(self.idempotency)))

    def _seen(self, event_id: str) -> bool:
        if event_id in self.seen_events:
            return True
        self.seen_events = (self.seen_events + [event_id])[-100:]
        return False


@dataclass(frozen=True)
class Change:
    """One change to an appointment, as a team records it: the event type a booth team
    announces it by, the history's action, who made it, when, and the event's own fields."""

    event_type: str
    action: str
    appointment: Appointment
    by: str
    now: datetime
    extra: dict[str, Any]


def _event(event_type: str, now: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """An event checked against its contract as it is recorded: one the relay could not publish
    is refused with the change that caused it, instead of waiting in the outbox for ever."""
    try:
        validate(event_type, data)
    except InvalidEventError as bad:
        raise RuleBroken(
            f"the change cannot be announced: {bad.field} {bad.reason}", bad.field
        ) from None
    return {"id": str(uuid.uuid4()), "type": event_type, "time": now.isoformat(), "data": data}


def _entry(
    now: datetime, action: str, appointment: Appointment, by: str, **extra: Any
) -> dict[str, Any]:
    # History says who did what and when; never the person's name or phone.
    return {
        "at": now.isoformat(),
        "action": action,
        "appointment_id": appointment.id,
        "role": appointment.role,
        "by": by,
        **extra,
    }


def _same_request(first: Appointment, role: str, person: Person, replaces: str | None) -> bool:
    """Whether a retried appointment asks for what the first one made (its locale aside)."""
    made = first.person
    return (first.role, made.name, made.phone, made.gender, made.channel, first.replaces) == (
        role,
        person.name,
        person.phone,
        person.gender,
        person.channel,
        replaces,
    )


def idempotency_key(organiser: str, key: str) -> str:
    """Keys are per organiser: two organisers' "1" are different keys."""
    return hashlib.sha256(f"{organiser}\x00{key}".encode()).hexdigest()[:32]


def roles_reached_differently(events: list[dict[str, Any]]) -> set[str]:
    """The roles whose verified appointees these outbox events changed: a verification, an end."""
    return {
        e["data"]["role"]
        for e in events
        if e["type"] in (types.APPOINTMENT_VERIFIED, types.APPOINTMENT_REVOKED)
        or (e["type"] == types.UNIT_OFFICER_CHANGED and e["data"]["change"] != "appointed")
    }
