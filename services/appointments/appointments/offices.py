"""A unit's office-bearers (a mandal's president, its general secretaries; a sector's shakti
kendra pramukh): the booth team's life cycle, for a unit above the booth.

Pure: no I/O. A `UnitOffice` is a `BoothTeam` whose id is the unit's, with the unit's seats
(`shared/teams/offices.py`), so appointing, the OTP verification, revoking, unlocking and erasure
are the booth team's own code, and the repository, the outbox and the relay treat it alike.
What differs is said here: each office-bearer names their own booth inside the unit (where
directives and meetings reach and count them, as every worker belongs to a booth), and every
change is announced as one `unit-officer-changed` event, never as a booth team's.
"""

from typing import Any

from appointments.domain import Appointment, BoothTeam, Change, RuleBroken, _event
from shared.events import types
from shared.orgtree.levels import ancestor_ids, booth_path, is_within, level_of, path_of
from shared.teams.offices import Office


def unit_path(unit_id: str) -> dict[str, str]:
    """The unit and its ancestors by level: {"state": ..., ..., "mandal": <the unit>}."""
    return path_of([*ancestor_ids(unit_id), unit_id])


def new_office(unit_id: str, office: Office) -> "UnitOffice":
    return UnitOffice(booth_id=unit_id, booth_path=unit_path(unit_id), rules=office.rules)


class UnitOffice(BoothTeam):
    """`booth_id` holds the unit's id: the key every booth team's method and store uses."""

    @property
    def unit_id(self) -> str:
        return self.booth_id

    def appoint(self, *, home_booth: str | None = None, **kw: Any) -> Appointment:
        """The booth team's `appoint`, with the office-bearer's own booth: a booth of the unit."""
        if not home_booth or booth_path(home_booth) is None:
            raise RuleBroken("booth_id must name the office-bearer's own booth", "booth_id")
        if not is_within(home_booth, self.unit_id):
            raise RuleBroken(f"booth {home_booth} is not inside {self.unit_id}", "booth_id")
        return super().appoint(home_booth=home_booth, **kw)

    def _announcement(self, change: Change) -> dict[str, Any]:
        """Every change of an office goes out as one unit-officer-changed event."""
        appointment = change.appointment
        data = {
            "appointment_id": appointment.id,
            "booth_id": appointment.home_booth,
            "unit_id": self.unit_id,
            "unit_level": level_of(self.unit_id),
            "role": appointment.role,
            "gender": appointment.person.gender,
            "change": change.action,  # appointed, verified, revoked or replaced: the event's words
            "organiser_id": change.by,
            "changed_at": change.now.isoformat(),
        }
        return _event(types.UNIT_OFFICER_CHANGED, change.now, data)
