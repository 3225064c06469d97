"""Booth coverage as pure rules: what one event does to a booth, and what a booth counts for.

No I/O here. An appointment only ever moves forward (pending -> verified -> revoked), so
applying the same event twice, or a late duplicate after a later event, changes nothing: that
is what makes the stream's at-least-once delivery safe without remembering every event id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from shared.events import types
from shared.orgtree.levels import is_within
from shared.teams.rules import PRESIDENT, WHATSAPP_PRAMUKH, rules_for

PENDING, VERIFIED, REVOKED = 0, 1, 2
STATUS_OF = {
    types.BOOTH_PRESIDENT_APPOINTED: PENDING,
    types.BOOTH_MEMBER_APPOINTED: PENDING,
    types.APPOINTMENT_VERIFIED: VERIFIED,
    types.APPOINTMENT_REVOKED: REVOKED,
}
APPOINTMENT_TYPES = frozenset(STATUS_OF)
PATH_LEVELS = ("state", "district", "assembly", "mandal", "sector")
NATIONAL = "IN"
# Revoked appointments are kept so a late duplicate cannot bring them back; a booth sees few
# replacements, and the oldest are forgotten past this many.
MAX_REVOKED_KEPT = 64
HOUR_S = 3600


def units_above(booth_path: Mapping[str, str]) -> tuple[str, ...]:
    """The units a booth counts towards, national first (the event's booth_path plus "IN")."""
    return (NATIONAL, *(booth_path[level] for level in PATH_LEVELS))


def state_code(state_unit_id: str) -> str:
    """IN-HP -> HP: the second segment of a unit id names the state's team rules."""
    parts = state_unit_id.split("-")
    return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class Seat:
    role: str
    gender: str
    status: int


@dataclass(frozen=True)
class AppointmentChange:
    """What an appointment event says, reduced to what coverage needs."""

    appointment_id: str
    role: str
    gender: str
    status: int
    at: float  # the event's time, seconds since the epoch

    @classmethod
    def from_event(cls, event_type: str, data: Mapping, at: float) -> AppointmentChange:
        return cls(data["appointment_id"], data["role"], data["gender"], STATUS_OF[event_type], at)


@dataclass
class Counts:
    """What a booth, or a set of booths, counts for. Adding and subtracting keep it exact."""

    booths_with_verified_president: int = 0
    booths_complete: int = 0
    booths_with_whatsapp_pramukh: int = 0
    verified_appointees: int = 0
    verified_women: int = 0
    verified_by_role: dict[str, int] = field(default_factory=dict)
    # Booths that reached a verified president / a complete team, by the hour they did
    # (hours since the epoch); kept only for state units, for the deadline's rate.
    president_hours: dict[int, int] = field(default_factory=dict)
    complete_hours: dict[int, int] = field(default_factory=dict)
    as_of: float | None = None  # time of the latest event counted; a maximum, never subtracted

    NUMBERS = (
        "booths_with_verified_president",
        "booths_complete",
        "booths_with_whatsapp_pramukh",
        "verified_appointees",
        "verified_women",
    )
    # The numbers a coverage-updated event carries (besides booths_total, the registry's).
    REPORTED = NUMBERS[:4]

    def add(self, other: Counts, sign: int = 1) -> None:
        for name in self.NUMBERS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))
        _add_into(self.verified_by_role, other.verified_by_role, sign)
        _add_into(self.president_hours, other.president_hours, sign, keep_known=True)
        _add_into(self.complete_hours, other.complete_hours, sign, keep_known=True)
        if (
            sign > 0
            and other.as_of is not None
            and (self.as_of is None or other.as_of > self.as_of)
        ):
            self.as_of = other.as_of

    def numbers(self) -> tuple:
        return tuple(getattr(self, name) for name in self.NUMBERS)

    def reported(self) -> tuple:
        """What a coverage-updated event carries, to tell whether anything changed since the
        last."""
        return tuple(getattr(self, name) for name in self.REPORTED)

    def copy(self) -> Counts:
        return Counts(
            *self.numbers(),
            dict(self.verified_by_role),
            dict(self.president_hours),
            dict(self.complete_hours),
            self.as_of,
        )

    def without_hours(self) -> Counts:
        return Counts(*self.numbers(), dict(self.verified_by_role), as_of=self.as_of)

    def prune_hours(self, oldest_hour: int) -> None:
        """Forget hours before `oldest_hour`: no rate window reaches back that far."""
        for hours in (self.president_hours, self.complete_hours):
            for hour in [h for h in hours if h < oldest_hour]:
                del hours[hour]

    def to_json(self) -> dict:
        return {
            **{name: getattr(self, name) for name in self.NUMBERS},
            "verified_by_role": self.verified_by_role,
            "president_hours": {str(h): n for h, n in self.president_hours.items()},
            "complete_hours": {str(h): n for h, n in self.complete_hours.items()},
            "as_of": self.as_of,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Counts:
        return cls(
            *(data[name] for name in cls.NUMBERS),
            dict(data["verified_by_role"]),
            {int(h): n for h, n in data["president_hours"].items()},
            {int(h): n for h, n in data["complete_hours"].items()},
            data["as_of"],
        )

    @classmethod
    def sum(cls, parts: Iterable[Counts]) -> Counts:
        total = cls()
        for part in parts:
            total.add(part)
        return total


def _add_into(target: dict, other: Mapping, sign: int, keep_known: bool = False) -> None:
    """Add `other` into `target` key by key, dropping zeros.

    keep_known: subtract only from keys present (an hour pruned as too old stays forgotten).
    """
    for key, n in other.items():
        if keep_known and sign < 0 and key not in target:
            continue
        value = target.get(key, 0) + sign * n
        if value:
            target[key] = value
        else:
            target.pop(key, None)


@dataclass(frozen=True)
class BoothTeam:
    """One booth's appointments as the stream has seen them."""

    booth_id: str
    units: tuple[str, ...]  # national, state, district, assembly, mandal, sector
    seats: Mapping[str, Seat] = field(default_factory=dict)  # by appointment id
    president_since: float | None = None
    complete_since: float | None = None
    as_of: float | None = None

    @property
    def state(self) -> str:
        return self.units[1]

    def apply(self, change: AppointmentChange) -> BoothTeam:
        """The team after `change`; the very same object when it changes nothing.

        A pending appointment is not kept: it does not count, and its verification carries the
        role and gender. A revocation of one never verified is kept, like any other, so that no
        late duplicate brings it back.
        """
        seat = self.seats.get(change.appointment_id)
        if change.status == PENDING or (seat is not None and seat.status >= change.status):
            return self  # pending, a duplicate, or older than what the booth already has
        seats = dict(self.seats)
        seats[change.appointment_id] = Seat(change.role, change.gender, change.status)
        if change.status == REVOKED:
            _forget_oldest_revoked(seats)
        team = replace(self, seats=seats, as_of=max(change.at, self.as_of or change.at))
        president, complete = team.has_verified_president(), team.is_complete()
        return replace(
            team,
            president_since=_since(
                self.president_since, self.has_verified_president(), president, change.at
            ),
            complete_since=_since(self.complete_since, self.is_complete(), complete, change.at),
        )

    def verified(self) -> list[tuple[str, str]]:
        """Active verified members as (role, gender): the only ones coverage counts."""
        return [(s.role, s.gender) for s in self.seats.values() if s.status == VERIFIED]

    def has_verified_president(self) -> bool:
        return any(role == PRESIDENT for role, _ in self.verified())

    def is_complete(self) -> bool:
        return rules_for(state_code(self.state)).is_complete(self.verified())

    def counts(self, with_hours: bool = False) -> Counts:
        """What this one booth counts for (hours only where a state's rate needs them)."""
        members = self.verified()
        by_role: dict[str, int] = {}
        for role, _ in members:
            by_role[role] = by_role.get(role, 0) + 1
        counts = Counts(
            booths_with_verified_president=int(PRESIDENT in by_role),
            booths_complete=int(self.is_complete()),
            booths_with_whatsapp_pramukh=int(WHATSAPP_PRAMUKH in by_role),
            verified_appointees=len(members),
            verified_women=sum(1 for _, gender in members if gender == "female"),
            verified_by_role=by_role,
            as_of=self.as_of,
        )
        if with_hours:
            if self.president_since is not None:
                counts.president_hours = {int(self.president_since // HOUR_S): 1}
            if self.complete_since is not None:
                counts.complete_hours = {int(self.complete_since // HOUR_S): 1}
        return counts


def _since(before: float | None, was: bool, now: bool, at: float) -> float | None:
    if now and not was:
        return at
    return before if now else None


def _forget_oldest_revoked(seats: dict[str, Seat]) -> None:
    revoked = [key for key, seat in seats.items() if seat.status == REVOKED]
    for key in revoked[: max(0, len(revoked) - MAX_REVOKED_KEPT)]:
        del seats[key]


def contributions(team: BoothTeam) -> dict[str, Counts]:
    """What a booth adds to itself and to each unit above it (hours on the state unit only)."""
    plain = team.counts()
    result = {unit: plain for unit in team.units}
    result[team.state] = team.counts(with_hours=True)
    result[team.booth_id] = plain
    return result


def path_matches(booth_id: str, units: tuple[str, ...], registry_ancestors: list[str]) -> bool:
    """Whether an event's booth_path names the booth's ancestors as the registry has them."""
    return (
        list(units) == list(registry_ancestors)
        and booth_id != units[-1]
        and is_within(booth_id, units[-1])
    )


# --- directives -----------------------------------------------------------------------------

DELIVERED, ACKNOWLEDGED = 1, 2  # bit flags of what a booth did with a directive
REACHING_STATUSES = frozenset({"delivered", "read"})
# Directives remembered per booth; the oldest are forgotten past this many.
MAX_DIRECTIVES_PER_BOOTH = 200


@dataclass
class Reach:
    """How many booths a directive reached: booths with a delivery, booths that acknowledged."""

    delivered: int = 0
    acknowledged: int = 0
    as_of: float | None = None

    def add(self, other: Reach, sign: int = 1) -> None:
        self.delivered += sign * other.delivered
        self.acknowledged += sign * other.acknowledged
        if (
            sign > 0
            and other.as_of is not None
            and (self.as_of is None or other.as_of > self.as_of)
        ):
            self.as_of = other.as_of

    def numbers(self) -> tuple:
        return self.delivered, self.acknowledged

    def copy(self) -> Reach:
        return Reach(self.delivered, self.acknowledged, self.as_of)

    def to_json(self) -> dict:
        return {"delivered": self.delivered, "acknowledged": self.acknowledged, "as_of": self.as_of}

    @classmethod
    def from_json(cls, data: Mapping) -> Reach:
        return cls(data["delivered"], data["acknowledged"], data["as_of"])

    @classmethod
    def sum(cls, parts: Iterable[Reach]) -> Reach:
        total = cls()
        for part in parts:
            total.add(part)
        return total


def directive_mark(event_type: str, data: Mapping) -> int:
    """The flag an event sets for its booth and directive, or 0 if it says nothing about reach."""
    if event_type == types.DIRECTIVE_ACKNOWLEDGED:
        return ACKNOWLEDGED
    if (
        event_type == types.DELIVERY_STATUS
        and data["directive_id"]
        and data["status"] in REACHING_STATUSES
    ):
        return DELIVERED
    return 0


def mark_directive(marks: Mapping[str, int], directive_id: str, mark: int) -> dict[str, int] | None:
    """The booth's directive flags with `mark` set, or None if it was set already.

    Delivery reports arrive twice and out of order; flags only ever get set, so order and
    repetition do not matter.
    """
    before = marks.get(directive_id, 0)
    if before | mark == before:
        return None
    updated = dict(marks)
    updated[directive_id] = before | mark
    for old in list(updated)[: max(0, len(updated) - MAX_DIRECTIVES_PER_BOOTH)]:
        del updated[old]
    return updated


def reach_of(flags: int, at: float | None) -> Reach:
    return Reach(int(bool(flags & DELIVERED)), int(bool(flags & ACKNOWLEDGED)), at)
