"""Ended appointments in `report_ended_appointments` (reports/link_holders.py says why and for how
long): one small document per appointment id, `_id` the id, so the check an answer link makes on
every open and submit is a read by `_id` (the one filter FerretDB v1 serves from an index).

    {_id: <appointment id>, booth_id, how: revoked|replaced|erased, ended_at: ISO 8601, until: date}

No phone, no name. Written with an upsert that sets the fields only on insert and moves `until`
only later, so a replayed event changes nothing. `until` is a BSON date for MongoDB's TTL index
(expireAfterSeconds 0: gone once passed); FerretDB 1.x refuses TTL indexes (NotImplemented), so
`purge`, run by a periodic job, deletes the same documents there. A document past its `until` that
is not deleted yet changes nothing: every link that names it has expired.

With `lookups` (a group commit, adapters/batching.py), the checks of concurrent opens and submits
are one `find` of their ids (`_id: {$in}`), not one round trip each. Nothing is remembered between
requests: an appointment recorded as ended refuses its link from the next check on.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from reports.link_holders import AppointmentEnded
from shared.batching import Batcher
from shared.logging import get_logger

log = get_logger(__name__)
NOT_IMPLEMENTED = 238


class EndedAppointmentStore:
    def __init__(self, db: Database, lookups: Batcher | None = None):
        self.ended_appointments = db.report_ended_appointments
        self.lookups = lookups

    def ensure_indexes(self) -> None:
        """At start, once MongoDB answers: the TTL index where the server has TTL."""
        try:
            self.ended_appointments.create_index("until", expireAfterSeconds=0)
        except OperationFailure as exc:
            if exc.code != NOT_IMPLEMENTED:
                raise
            log.info("no TTL index on this server: ended appointments are purged by a job")

    def record(self, ended: AppointmentEnded, until: datetime) -> bool:
        change = {
            "$setOnInsert": {
                "booth_id": ended.booth_id,
                "how": ended.how,
                "ended_at": ended.ended_at.isoformat(),
            },
            "$max": {"until": until},
        }
        for _ in range(2):  # a concurrent first insert of the same id: the second try updates
            try:
                done = self.ended_appointments.update_one(
                    {"_id": ended.appointment_id}, change, upsert=True
                )
                return done.upserted_id is not None
            except DuplicateKeyError:
                continue
        return False

    def ended(self, appointment_id: str) -> bool:
        if self.lookups is not None:
            return self.lookups.submit(appointment_id)
        return self.ended_appointments.find_one({"_id": appointment_id}, {"_id": 1}) is not None

    def ended_among(self, appointment_ids: list[str]) -> list[bool]:
        """The group commit's read: whether each of these appointments has ended, in one find."""
        found = self.ended_appointments.find(
            {"_id": {"$in": list(set(appointment_ids))}}, {"_id": 1}
        )
        ended = {doc["_id"] for doc in found}
        return [a in ended for a in appointment_ids]

    def purge(self, now: datetime) -> int:
        return self.ended_appointments.delete_many({"until": {"$lt": now}}).deleted_count
