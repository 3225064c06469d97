"""MongoDB helpers every service's adapters share."""

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


def insert_ignoring_duplicates(collection: Collection, docs: list[dict]) -> list[int]:
    """Insert in one unordered batch; returns the positions of documents whose `_id` was taken
    (those are left as they were). Any other write error is raised."""
    if not docs:
        return []
    try:
        collection.insert_many(docs, ordered=False)
        return []
    except BulkWriteError as exc:
        if any(e["code"] != DUPLICATE_KEY for e in exc.details["writeErrors"]):
            raise
        return [e["index"] for e in exc.details["writeErrors"]]
