"""The audit trail of erasures: who asked, when, for which appointments. Never the person.

One document per request (`_id` = the erasure id, carried by every person-erased event it
caused), written before the scrub so a request that fails half-way is still on record.
"""

from datetime import datetime
from typing import Any

from pymongo.database import Database


class ErasureLog:
    def __init__(self, db: Database):
        self.requests = db.erasure_requests

    def opened(
        self,
        erasure_id: str,
        *,
        requested_by: str,
        unit: str | None,
        reason: str,
        by: str,
        at: datetime,
    ) -> None:
        """`by`: what the request named, "appointment" or "phone" (the phone itself is not kept)."""
        self.requests.insert_one(
            {
                "_id": erasure_id,
                "requested_by": requested_by,
                "unit": unit,
                "reason": reason,
                "by": by,
                "at": at,
                "erased": [],
            }
        )

    def erased(self, erasure_id: str, booth_id: str, appointment_id: str) -> None:
        self.requests.update_one(
            {"_id": erasure_id},
            {"$addToSet": {"erased": {"booth_id": booth_id, "appointment_id": appointment_id}}},
        )

    def get(self, erasure_id: str) -> dict[str, Any] | None:
        return self.requests.find_one({"_id": erasure_id})
