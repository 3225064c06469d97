"""One short function per command or event: load the booth team, change it, save it.

Every change is retried on a concurrent update (compare-and-set), so two organisers writing to
one booth at once both succeed or get a clear refusal; none is lost.
"""

import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from appointments import commands
from appointments.domain import (
    PRESIDENT,
    VERIFIED,
    Appointment,
    BoothTeam,
    CodeRejected,
    DomainError,
    NotFound,
    Person,
    idempotency_key,
)
from appointments.offices import UnitOffice, new_office
from appointments.ports import (
    CodeChecker,
    ConcurrentUpdate,
    ErasureTrail,
    OrganiserBudgets,
    OtpRejected,
    PresidentPostRegister,
    TeamStore,
)
from shared.auth.tokens import Principal
from shared.logging import get_logger
from shared.orgtree.levels import NATIONAL_ID, booth_path, is_within
from shared.orgtree.repository import OrgRegistry
from shared.ratelimit import LimitsUnavailable, Throttled
from shared.teams.offices import office_at

log = get_logger(__name__)
T = TypeVar("T")
ATTEMPTS = 8


class UnknownBooth(DomainError):
    status, kind = 404, "unknown-booth"


class UnknownOffice(DomainError):
    status, kind = 404, "unknown-office"


class PresidentElsewhere(DomainError):
    status, kind = 409, "already-president-elsewhere"

    def __init__(self, holder_booth: str, booth_id: str):
        super().__init__(
            f"this person is already booth president of {_describe(holder_booth, booth_id)}",
            "phone",
        )
        self.holder_booth = holder_booth


class NotAppointable(DomainError):
    """What an organiser is told when the person is president of a booth outside their unit:
    whether a phone holds a post anywhere in India is not theirs to learn."""

    status, kind = 409, "appointment-refused"


def as_seen_by(refusal: PresidentElsewhere, jurisdiction: str | None) -> DomainError:
    """The refusal as an organiser of `jurisdiction` may see it: precise inside their unit,
    neutral outside it."""
    if jurisdiction and is_within(refusal.holder_booth, jurisdiction):
        return refusal
    return NotAppointable(
        "this person cannot be appointed to this seat; the organiser above you can say why", "phone"
    )


@dataclass
class Ports:
    """Everything the handlers need (ports.py); bootstrap wires the real ones."""

    registry: OrgRegistry
    teams: TeamStore
    posts: PresidentPostRegister
    erasures: ErasureTrail | None = None  # the erasure audit trail (erase_* handlers need it)
    otp: CodeChecker | None = None  # checks codes (VerifyCode)
    limits: OrganiserBudgets | None = (
        None  # organisers' budgets (every command but Revoke and Unlock)
    )
    # How long verify_code waits for otp-verified to come back through Kafka before answering.
    verification_wait_s: float = 0.0
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    offices: TeamStore | None = None  # units' office-bearers (offices.py), kept like booth teams
    # Writers to one booth inside this process take turns, so they do not waste compare-and-set
    # rounds on each other; other processes are still kept honest by compare-and-set.
    _locks: tuple[threading.Lock, ...] = field(
        default_factory=lambda: tuple(threading.Lock() for _ in range(256))
    )

    def booth_lock(self, booth_id: str) -> threading.Lock:
        return self._locks[zlib.crc32(booth_id.encode()) % len(self._locks)]

    def store_for(self, unit_id: str) -> TeamStore:
        """A unit's office-bearers, or (any other id) a booth's team: told apart by the id alone."""
        return self.offices if self.offices is not None and office_at(unit_id) else self.teams

    def stores(self) -> list[TeamStore]:
        return [store for store in (self.teams, self.offices) if store is not None]


def load_team(ports: Ports, booth_id: str) -> BoothTeam:
    """The booth's team, or (for a unit's id) the unit's office-bearers, new if it has none."""
    team = ports.store_for(booth_id).get(booth_id)
    if team is not None:
        return team
    if ports.store_for(booth_id) is not ports.teams:
        return _new_office(ports, booth_id)
    unit = ports.registry.get(booth_id)
    if unit is None or unit["level"] != "booth":
        raise UnknownBooth(f"{booth_id} is not a booth in the organisation's registry", "booth_id")
    path = booth_path(booth_id)
    return BoothTeam(booth_id=booth_id, booth_path=path, rules=ports.teams.rules_for(unit["state"]))


def _new_office(ports: Ports, unit_id: str) -> UnitOffice:
    office = office_at(unit_id)
    if ports.registry.get(unit_id) is None:
        raise UnknownOffice(f"{unit_id} is not in the organisation's registry", "unit_id")
    return new_office(unit_id, office)


@dataclass
class Attempt:
    """One compare-and-set try at a booth's team: the president posts it claimed are released
    again if its save loses to another writer; `unchanged` skips the save (a retried request)."""

    team: BoothTeam
    claimed: list[Appointment] = field(default_factory=list)
    unchanged: bool = False


def _retrying(ports: Ports, booth_id: str, change: Callable[[BoothTeam], T]) -> T:
    return _compare_and_set(ports, booth_id, lambda attempt: change(attempt.team))


def _compare_and_set(ports: Ports, booth_id: str, change: Callable[[Attempt], T]) -> T:
    """Load the team, change it, save it unless another writer saved first; then again, at
    most ATTEMPTS times. The one loop every change to a booth team goes through."""
    with ports.booth_lock(booth_id):
        for _ in range(ATTEMPTS):
            attempt = Attempt(load_team(ports, booth_id))
            result = change(attempt)
            if attempt.unchanged:
                return result
            try:
                ports.store_for(booth_id).save(attempt.team)
                return result
            except ConcurrentUpdate:
                for appointment in attempt.claimed:
                    ports.posts.release(appointment.person.phone, appointment.id)
    raise ConcurrentUpdate(booth_id)


def appoint(
    ports: Ports,
    *,
    booth_id: str,
    role: str,
    person: Person,
    organiser: str,
    key: str | None = None,
    replaces: str | None = None,
) -> Appointment:
    key = idempotency_key(organiser, key) if key else None
    vacated: list[Appointment] = []  # a replaced president, whose post is free once the save holds

    def change(attempt: Attempt) -> Appointment:
        team = attempt.team
        known = {a.id for a in team.appointments}
        outgoing = team.get(replaces) if replaces else None
        appointment = team.appoint(
            role=role,
            person=person,
            organiser=organiser,
            now=ports.clock(),
            idempotency_key=key,
            replaces=replaces,
        )
        attempt.unchanged = appointment.id in known  # a retry: nothing changed
        if attempt.unchanged:
            return appointment
        if role == PRESIDENT:
            if holder := ports.posts.claim(person.phone, booth_id, appointment.id):
                raise PresidentElsewhere(holder, booth_id)
            attempt.claimed.append(appointment)
        vacated[:] = [outgoing] if outgoing and outgoing.role == PRESIDENT else []
        return appointment

    appointment = _compare_and_set(ports, booth_id, change)
    for president in vacated:
        ports.posts.release(president.person.phone, president.id)
    return appointment


def revoke(ports: Ports, *, booth_id: str, appointment_id: str, organiser: str) -> Appointment:
    appointment = _retrying(
        ports,
        booth_id,
        lambda team: team.revoke(appointment_id, organiser=organiser, now=ports.clock()),
    )
    if appointment.role == PRESIDENT:
        ports.posts.release(appointment.person.phone, appointment.id)
    return appointment


def request_otp_again(
    ports: Ports, *, booth_id: str, appointment_id: str, organiser: str
) -> Appointment:
    return _retrying(
        ports,
        booth_id,
        lambda team: team.request_otp_again(appointment_id, organiser=organiser, now=ports.clock()),
    )


def code_rejected(ports: Ports, *, booth_id: str, appointment_id: str) -> bool:
    """Count a wrong code against the appointment's daily allowance; True if it is now barred."""
    return _retrying(
        ports, booth_id, lambda team: team.code_rejected(appointment_id, now=ports.clock())
    )


def unlock(
    ports: Ports, *, booth_id: str, appointment_id: str, organiser: str, unit: str
) -> Appointment:
    return _retrying(
        ports,
        booth_id,
        lambda team: team.unlock(appointment_id, organiser=organiser, unit=unit, now=ports.clock()),
    )


def otp_verified(
    ports: Ports, *, event_id: str, booth_id: str, appointment_id: str, request_id: str
) -> bool:
    """otp-verified -> appointment-verified. False for an appointment this service does not know."""
    try:
        return _retrying(
            ports,
            booth_id,
            lambda team: team.confirm_otp(
                appointment_id=appointment_id,
                otp_request_id=request_id,
                event_id=event_id,
                now=ports.clock(),
            ),
        )
    except (UnknownBooth, UnknownOffice, NotFound):
        return False


def otp_failed(
    ports: Ports, *, event_id: str, booth_id: str, appointment_id: str, request_id: str, reason: str
) -> bool:
    try:
        return _retrying(
            ports,
            booth_id,
            lambda team: team.otp_failed(
                appointment_id=appointment_id,
                otp_request_id=request_id,
                reason=reason,
                event_id=event_id,
                now=ports.clock(),
            ),
        )
    except (UnknownBooth, UnknownOffice, NotFound):
        return False


# --- what an organiser asks (commands.py): budgets, refusals as they may see them, audits -------


def handle(ports: Ports, command: commands.Command, who: Principal):
    """Carry out an organiser's command; the entrypoint has checked their jurisdiction over the
    booth. Raises DomainError (refused), Throttled (a budget spent) or an adapter's outage."""
    return _HANDLERS[type(command)](ports, command, who)


def _appoint_for(
    ports: Ports, cmd: commands.Appoint | commands.Replace, who: Principal
) -> Appointment:
    """`appoint`, with "already president elsewhere" told only inside the organiser's unit, every
    such refusal audited, and few of them an hour (see AppointmentLimits)."""
    replaces = cmd.appointment_id if isinstance(cmd, commands.Replace) else None
    role = load_team(ports, cmd.booth_id).get(replaces).role if replaces else cmd.role
    ports.limits.may_send_to_new_numbers(who.subject)
    if role == PRESIDENT:
        ports.limits.may_try_president(who.subject)
    try:
        appointment = appoint(
            ports,
            booth_id=cmd.booth_id,
            role=role,
            person=cmd.person,
            organiser=who.subject,
            key=cmd.key,
            replaces=replaces,
        )
    except PresidentElsewhere as refused:
        president_refused(ports, who, cmd.booth_id, refused)
        raise as_seen_by(refused, who.unit) from None
    ports.limits.sent_to(who.subject, appointment.person.phone)
    return appointment


def _appoint_officer(ports: Ports, cmd: commands.AppointOfficer, who: Principal) -> Appointment:
    """A unit's office-bearer, on the same budgets as a booth appointment (a code goes out)."""
    ports.limits.may_send_to_new_numbers(who.subject)
    key = idempotency_key(who.subject, cmd.key) if cmd.key else None

    def change(attempt: Attempt) -> Appointment:
        known = {a.id for a in attempt.team.appointments}
        appointment = attempt.team.appoint(
            role=cmd.role,
            person=cmd.person,
            organiser=who.subject,
            now=ports.clock(),
            idempotency_key=key,
            home_booth=cmd.home_booth,
        )
        attempt.unchanged = appointment.id in known  # a retry: nothing changed
        return appointment

    appointment = _compare_and_set(ports, cmd.unit_id, change)
    ports.limits.sent_to(who.subject, appointment.person.phone)
    return appointment


def president_refused(
    ports: Ports,
    who: Principal,
    booth_id: str,
    refused: PresidentElsewhere,
    spent_ends: bool = False,
) -> None:
    """Audit and count a refusal because the phone is a president elsewhere: each one tells
    something. With `spent_ends` (an import), Throttled once the organiser's refusals are spent."""
    # The audit line names who asked and where, never the phone.
    log.warning(
        "president post refused",
        fields={
            "organiser": who.subject,
            "unit": who.unit,
            "booth_id": booth_id,
            "holder_in_jurisdiction": who.may_act_in(refused.holder_booth),
        },
    )
    try:
        ports.limits.president_refusal(who.subject)
    except Throttled:
        if spent_ends:
            raise
    except LimitsUnavailable:
        pass  # counted or not, this refusal is answered


def _revoke(ports: Ports, cmd: commands.Revoke, who: Principal) -> Appointment:
    return revoke(
        ports, booth_id=cmd.booth_id, appointment_id=cmd.appointment_id, organiser=who.subject
    )


def _resend_code(ports: Ports, cmd: commands.ResendCode, who: Principal) -> Appointment:
    ports.limits.resend(who.subject, cmd.appointment_id)
    return request_otp_again(
        ports, booth_id=cmd.booth_id, appointment_id=cmd.appointment_id, organiser=who.subject
    )


def _verify_code(ports: Ports, cmd: commands.VerifyCode, who: Principal) -> Appointment:
    """Have the OTP service check the code an appointee read out. The appointment turns verified
    when otp-verified comes back through Kafka: shown as verified if that lands within the wait."""
    ports.limits.verification(who.subject, cmd.appointment_id)
    team = load_team(ports, cmd.booth_id)
    appointment = team.code_to_check(cmd.appointment_id)
    if appointment is None:
        return team.get(cmd.appointment_id)  # verified already: a retried verification
    try:
        ports.otp.verify(
            request_id=appointment.otp_request_id,
            appointment_id=appointment.id,
            code=cmd.code,
            on_behalf_of=who.subject,
        )
    except OtpRejected:
        code_rejected(ports, booth_id=cmd.booth_id, appointment_id=appointment.id)
        raise CodeRejected(
            "wrong, expired or already used; after 5 wrong tries ask for a new code", "code"
        ) from None
    deadline = time.monotonic() + ports.verification_wait_s
    while time.monotonic() < deadline:
        appointment = ports.store_for(cmd.booth_id).get(cmd.booth_id).get(appointment.id)
        if appointment.status == VERIFIED:
            break
        time.sleep(0.05)
    return appointment


def _unlock(ports: Ports, cmd: commands.Unlock, who: Principal) -> Appointment:
    appointment = unlock(
        ports,
        booth_id=cmd.booth_id,
        appointment_id=cmd.appointment_id,
        organiser=who.subject,
        unit=who.unit,
    )
    log.info(
        "appointment unlocked",
        fields={
            "organiser": who.subject,
            "unit": who.unit,
            "booth_id": cmd.booth_id,
            "appointment_id": cmd.appointment_id,
        },
    )
    return appointment


def _erase_appointment(
    ports: Ports, cmd: commands.EraseAppointment, who: Principal
) -> tuple[str, list]:
    erasure_id = erase_appointment(
        ports,
        booth_id=cmd.booth_id,
        appointment_id=cmd.appointment_id,
        requested_by=who.subject,
        unit=who.unit,
    )
    return erasure_id, [(cmd.booth_id, cmd.appointment_id)]


def _erase_phone(ports: Ports, cmd: commands.ErasePhone, who: Principal) -> tuple[str, list]:
    return erase_person(ports, phone=cmd.phone, requested_by=who.subject, unit=who.unit)


# --- personal data: erasure and retention ---------------------------------------------------------


def erase_appointment(
    ports: Ports, *, booth_id: str, appointment_id: str, requested_by: str, unit: str | None
) -> str:
    """An erasure request naming one appointment; returns the erasure id (its audit record)."""
    erasure_id = _open_erasure(ports, requested_by, unit, "request", "appointment")
    _erase(ports, booth_id, appointment_id, requested_by, "request", erasure_id)
    return erasure_id


def erase_person(
    ports: Ports, *, phone: str, requested_by: str, unit: str
) -> tuple[str, list[tuple[str, str]]]:
    """An erasure request naming a phone: every appointment of it under the requester's unit
    (HQ: everywhere). Returns the erasure id and the (booth, appointment) pairs erased."""
    erasure_id = _open_erasure(ports, requested_by, unit, "request", "phone")
    erased = []
    for store in ports.stores():
        for booth_id in store.with_phone(phone, unit):
            team = store.get(booth_id)
            for appointment in [a for a in team.appointments if a.person.phone == phone]:
                _erase(ports, booth_id, appointment.id, requested_by, "request", erasure_id)
                erased.append((booth_id, appointment.id))
    return erasure_id, erased


def verified_with_phone(ports: Ports, phone: str) -> list[tuple[BoothTeam, Appointment]]:
    """Every verified appointment of this phone, anywhere: who an inbound SMS or WhatsApp reply
    came from. Found through the phone's keyed index, so sealed phones are never scanned."""
    found = []
    for booth_id in ports.teams.with_phone(phone, NATIONAL_ID):
        team = ports.teams.get(booth_id)
        found.extend(
            (team, a) for a in team.appointments if a.status == VERIFIED and a.person.phone == phone
        )
    return found


def retain(ports: Ports, *, keep: timedelta, batch: int = 500) -> int:
    """Scrub everyone whose appointment ended (revoked, replaced) more than `keep` ago; returns
    how many. One audit record per run that found someone."""
    cutoff, erased, erasure_id = ports.clock() - keep, 0, None
    for store in ports.stores():
        after = ""
        while teams := store.ended_before(cutoff, after=after, limit=batch):
            for team in teams:
                for appointment in team.ended_before(cutoff):
                    erasure_id = erasure_id or _open_erasure(
                        ports, RETENTION, None, "retention", "retention"
                    )
                    _erase(ports, team.booth_id, appointment.id, RETENTION, "retention", erasure_id)
                    erased += 1
            after = teams[-1].booth_id
    return erased


RETENTION = "svc:retention"


def _open_erasure(ports: Ports, requested_by: str, unit: str | None, reason: str, by: str) -> str:
    erasure_id = str(uuid.uuid4())
    ports.erasures.opened(
        erasure_id, requested_by=requested_by, unit=unit, reason=reason, by=by, at=ports.clock()
    )
    return erasure_id


def _erase(
    ports: Ports, booth_id: str, appointment_id: str, by: str, reason: str, erasure_id: str
) -> None:
    held: dict[str, str] = {}

    def change(team: BoothTeam) -> Appointment:
        held["phone"] = team.get(appointment_id).person.phone
        return team.erase(
            appointment_id, by=by, reason=reason, erasure_id=erasure_id, now=ports.clock()
        )

    appointment = _retrying(ports, booth_id, change)
    if appointment.role == PRESIDENT and held["phone"]:
        ports.posts.release(held["phone"], appointment.id)
    ports.erasures.erased(erasure_id, booth_id, appointment_id)


def _describe(holder_booth: str, booth_id: str) -> str:
    return "this booth" if holder_booth == booth_id else "another booth"


@dataclass
class Row:
    number: int  # line in the uploaded file, for the error report
    role: str
    person: Person


@dataclass(frozen=True)
class Appointed:
    """A bulk row's appointment, and whether the row made it (not an earlier import)."""

    appointment: Appointment
    new: bool


def appoint_rows(
    ports: Ports, *, booth_id: str, rows: list[Row], organiser: str
) -> dict[int, Appointed | DomainError]:
    """Appoint one booth's rows of a bulk import with one read and one write of its team.

    Each row is checked against the same rules as a single appointment; a refused row is
    reported and the rest still apply. A row already applied (the same file again) is not new.
    """
    return _compare_and_set(
        ports, booth_id, lambda attempt: _apply_rows(ports, attempt, rows, organiser)
    )


def appoint_booths(
    ports: Ports, booths: list[tuple[str, list[Row]]], organiser: str
) -> dict[str, dict[int, Appointed | DomainError] | DomainError]:
    """Appoint many booths' rows of a bulk import; by booth id, each row's outcome (or the
    refusal of the whole booth, e.g. an unknown one).

    Booths without a team yet, the bulk of a first import, are written in three batched writes
    (presidents' claims, teams, outbox pointers) instead of five round trips each. A booth that
    turns out to have a team, or whose president's phone is claimed already or twice in this
    batch, goes the one-by-one way of `appoint_rows`, so every rule is judged as for one row.
    """
    units = ports.registry.booth_units(booth_id for booth_id, _ in booths)
    results: dict[str, dict[int, Appointed | DomainError] | DomainError] = {}
    drafts: dict[str, tuple[BoothTeam, dict[int, Appointed | DomainError]]] = {}
    for booth_id, rows in booths:
        unit = units.get(booth_id)
        if unit is None:
            results[booth_id] = UnknownBooth(
                f"{booth_id} is not a booth in the organisation's registry", "booth_id"
            )
            continue
        team = BoothTeam(
            booth_id=booth_id,
            booth_path=booth_path(booth_id),
            rules=ports.teams.rules_for(unit["state"]),
        )
        drafts[booth_id] = (team, _draft(team, rows, organiser, ports.clock()))
    one_by_one = _claim_presidents(ports, drafts)
    fresh = [team for booth_id, (team, _) in drafts.items() if booth_id not in one_by_one]
    for booth_id in ports.teams.insert_new(fresh):
        one_by_one.add(booth_id)
        if president := drafts[booth_id][0].president():
            ports.posts.release(president.person.phone, president.id)
    rows_of = dict(booths)
    for booth_id, (_, outcome) in drafts.items():
        results[booth_id] = (
            appoint_rows(ports, booth_id=booth_id, rows=rows_of[booth_id], organiser=organiser)
            if booth_id in one_by_one
            else outcome
        )
    return results


def _draft(
    team: BoothTeam, rows: list[Row], organiser: str, now: datetime
) -> dict[int, Appointed | DomainError]:
    """Apply rows to a new team in memory: each row appointed or refused by the team's rules."""
    outcome: dict[int, Appointed | DomainError] = {}
    for row in rows:
        try:
            outcome[row.number] = Appointed(
                team.appoint(role=row.role, person=row.person, organiser=organiser, now=now), True
            )
        except DomainError as refused:
            outcome[row.number] = refused
    return outcome


def _claim_presidents(ports: Ports, drafts: dict[str, tuple[BoothTeam, dict]]) -> set[str]:
    """Claim the drafted presidents' posts in one batch; returns the booths to appoint one by
    one."""
    presidents = {booth_id: p for booth_id, (team, _) in drafts.items() if (p := team.president())}
    seen: set[str] = set()
    one_by_one = set()
    for booth_id, president in presidents.items():
        if president.person.phone in seen:
            one_by_one.add(
                booth_id
            )  # the same person twice in a file: judged after the first is saved
        seen.add(president.person.phone)
    claims = [(p.person.phone, b, p.id) for b, p in presidents.items() if b not in one_by_one]
    taken = ports.posts.claim_new(claims)
    return one_by_one | {booth_id for phone, booth_id, _ in claims if phone in taken}


def _apply_rows(
    ports: Ports, attempt: Attempt, rows: list[Row], organiser: str
) -> dict[int, Appointed | DomainError]:
    team, outcome = attempt.team, {}
    known = {a.id for a in team.appointments}
    for row in rows:
        try:
            appointment = team.appoint(
                role=row.role, person=row.person, organiser=organiser, now=ports.clock()
            )
        except DomainError as refused:
            outcome[row.number] = refused
            continue
        if row.role == PRESIDENT and appointment.id not in known:
            if holder := ports.posts.claim(row.person.phone, team.booth_id, appointment.id):
                team.discard(appointment.id)
                outcome[row.number] = PresidentElsewhere(holder, team.booth_id)
                continue
            attempt.claimed.append(appointment)
        outcome[row.number] = Appointed(appointment, appointment.id not in known)
    return outcome


_HANDLERS = {
    commands.Appoint: _appoint_for,
    commands.Replace: _appoint_for,
    commands.AppointOfficer: _appoint_officer,
    commands.Revoke: _revoke,
    commands.ResendCode: _resend_code,
    commands.VerifyCode: _verify_code,
    commands.Unlock: _unlock,
    commands.EraseAppointment: _erase_appointment,
    commands.ErasePhone: _erase_phone,
}
