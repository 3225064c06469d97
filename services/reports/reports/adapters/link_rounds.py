"""How far each round's answer links have gone out (`links` on the round's document in
report_rounds), beside the fan-out's own cursor and lease and independent of it.

`links` is `{unit, sent, done}`: the index of the unit being sent (a scope unit, or one of the
districts a state or the nation is sent by: link_sending.districts_of) and the messages handed
over so far. A cursor made when the index counted scope units only is never ahead of the same
place in the longer list, so such a round repeats some units and skips none. A round made before
answer links existed has no `links` and counts as not done; the sender finishes it at once when
its links would already have expired. A round is leased to one
process at a time (`links_lease`), renewed at every batch the notifier took.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pymongo.database import Database

from reports.adapters.mongo import _round
from reports.domain import Round

START = {"unit": 0, "sent": 0, "done": False}
_NOT_DONE = {"links.done": {"$ne": True}}


class LinkRounds:
    def __init__(self, db: Database):
        self.rounds = db.report_rounds

    def pending(self, limit: int = 10) -> Iterator[Round]:
        with self.rounds.find(_NOT_DONE).limit(limit) as cursor:
            docs = list(cursor)
        for doc in docs:
            yield _round(doc)

    def progress(self, dispatch_id: str) -> dict[str, Any] | None:
        doc = self.rounds.find_one({"_id": dispatch_id}, {"links": 1})
        return None if doc is None else {**START, **doc.get("links", {})}

    def claim(self, dispatch_id: str, owner: str, now: float, lease_s: float) -> dict | None:
        """The round's link cursor if `owner` may send now (no other live lease), leased to it
        for `lease_s`; None while another process holds it or the links are all sent."""
        free = [
            {"links_lease": {"$exists": False}},
            {"links_lease.until": {"$lt": now}},
            {"links_lease.owner": owner},
        ]
        taken = self.rounds.update_one(
            {"_id": dispatch_id, **_NOT_DONE, "$or": free},
            {"$set": {"links_lease": {"owner": owner, "until": now + lease_s}}},
        )
        return self.progress(dispatch_id) if taken.matched_count else None

    def advance(self, dispatch_id: str, links: dict, owner: str, until: float) -> bool:
        """Move the cursor and renew the lease; False if the lease was lost to another process."""
        moved = self.rounds.update_one(
            {"_id": dispatch_id, "links_lease.owner": owner},
            {"$set": {"links": links, "links_lease.until": until}},
        )
        return moved.matched_count == 1
