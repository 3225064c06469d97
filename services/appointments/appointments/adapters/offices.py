"""Units' office-bearers in MongoDB: one document per unit (`_id` = the unit's id) in
`unit_offices`, shaped and saved exactly as a booth team (adapters/mongo.py: compare-and-set,
names and phones sealed, the outbox in the same document), with pointers and dead letters of their
own so the booth teams' relay and the offices' relay never read each other's."""

from typing import Any

from appointments.adapters.mongo import BoothTeams
from appointments.offices import UnitOffice
from shared.teams.offices import office_at


class UnitOffices(BoothTeams):
    COLLECTIONS = ("unit_offices", "unit_offices_outbox_pending", "unit_offices_dead_letters")

    def _team(self, doc: dict[str, Any]) -> UnitOffice:
        return self._made(doc, UnitOffice, office_at(doc["_id"]).rules)
