"""The organisation registry in MongoDB (collection `org_units`, one document per unit).

Designed for FerretDB v1 as well as MongoDB: no transactions, no $lookup. A unit's `_id` is its
readable id and its `ancestors` array holds every id above it, so a whole subtree is one query
on one multikey index, and a reload of the same tree is idempotent by duplicate key.

On the local FerretDB v1 (SQLite) only a filter on `_id` alone reaches SQLite, where the index
deploy/local/ferretdb adds serves it (~1 ms); any other filter is a scan in FerretDB itself. That
is quick enough for a state (Himachal: ~10k units, ~0.5 s per `children`) but not for the nation
(1.28M units: about a minute per `children` or `booth_ids_under`); a national registry wants
real MongoDB, where `ensure_indexes` serves every query here.
"""

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from shared.logging import get_logger
from shared.orgtree.generator import GENERATOR_VERSION
from shared.orgtree.levels import LEVELS, Unit, level_of

DUPLICATE_KEY = 11000

log = get_logger(__name__)


class TreeMismatch(Exception):
    """The registry already holds a tree generated differently; loading would mix the two."""


@dataclass(frozen=True)
class LoadReport:
    units: int  # units the registry holds for this tree
    inserted: int  # of which new in this load
    seconds: float
    skipped: bool  # the tree was already completely loaded, nothing was read


class OrgRegistry:
    def __init__(self, db: Database):
        self.units = db["org_units"]
        self.meta = db["org_registry_meta"]

    def ensure_indexes(self) -> None:
        self.units.create_index("parent")
        self.units.create_index("ancestors")
        self.units.create_index([("state", ASCENDING), ("level", ASCENDING)])

    def loaded(self, tree: str, seed: int) -> int | None:
        """How many units a completed load of this tree left, or None if there was none."""
        meta = self.meta.find_one({"_id": tree, "seed": seed, "version": GENERATOR_VERSION})
        return meta["units"] if meta else None

    def load(self, units: Iterable[Unit], batch_size: int = 5000, *,
             tree: str | None = None, seed: int | None = None) -> LoadReport:
        """Insert units in unordered batches; units already present are left as they are.

        Given a `tree` name and `seed`, a completed load is recorded in `org_registry_meta`
        and a later load of the same tree returns at once without reading `units`.
        """
        started = time.monotonic()
        if tree is not None:
            done = self.loaded(tree, seed)
            if done is not None:
                return LoadReport(done, 0, time.monotonic() - started, skipped=True)
            self._refuse_other_trees(seed)
        total = inserted = 0
        units = iter(units)
        while batch := [_document(u) for u in islice(units, batch_size)]:
            total += len(batch)
            inserted += self._insert_new(batch)
        # Secondary indexes after the bulk insert: building once beats updating per document.
        self.ensure_indexes()
        if tree is not None:
            self.meta.replace_one(
                {"_id": tree},
                {"seed": seed, "version": GENERATOR_VERSION, "units": total,
                 "loaded_at": datetime.now(timezone.utc)},
                upsert=True,
            )
        report = LoadReport(total, inserted, time.monotonic() - started, skipped=False)
        log.info("org units loaded", fields={"tree": tree, "units": total, "inserted": inserted,
                                             "seconds": round(report.seconds, 1)})
        return report

    def get(self, unit_id: str) -> Unit | None:
        return _unit(self.units.find_one({"_id": unit_id}))

    def ancestors(self, unit: Unit) -> list[Unit]:
        """The unit's ancestors, national first.

        At most six lookups by `_id` rather than one `$in`: FerretDB v1 serves `_id` equality
        from an index (see deploy/local/ferretdb/idindex.go) but scans for `$in`.
        """
        found = (self.get(i) for i in unit["ancestors"])
        return [u for u in found if u is not None]

    def children(self, unit_id: str) -> list[Unit]:
        # Zero-padded ids sort in the organisation's own numbering.
        return [_unit(d) for d in self.units.find({"parent": unit_id}).sort("_id", ASCENDING)]

    def booth_ids_under(self, unit_id: str, batch_size: int = 10_000) -> Iterator[str]:
        """Every booth id in the unit's subtree (the booth itself, for a booth), streamed."""
        if level_of(unit_id) == "booth":
            query = {"_id": unit_id}
        else:
            query = {"ancestors": unit_id, "level": "booth"}
        with self.units.find(query, {"_id": 1}, batch_size=batch_size) as cursor:
            for doc in cursor:
                yield doc["_id"]

    def is_within(self, unit_id: str, ancestor_id: str) -> bool:
        """Whether the unit is the given unit or lies in its subtree."""
        # A lookup by _id alone: the one filter FerretDB v1 pushes down to SQLite.
        unit = self.get(unit_id)
        return unit is not None and (unit_id == ancestor_id or ancestor_id in unit["ancestors"])

    def level_counts(self, state: str | None = None) -> dict[str, int]:
        """Units per level, in level order (for a state, or the whole registry)."""
        match = {"state": state} if state else {}
        rows = self.units.aggregate([{"$match": match}, {"$group": {"_id": "$level", "n": {"$sum": 1}}}])
        counts = {row["_id"]: row["n"] for row in rows}
        return {level.name: counts[level.name] for level in LEVELS if level.name in counts}

    def _insert_new(self, batch: list[dict]) -> int:
        try:
            return len(self.units.insert_many(batch, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            if any(e["code"] != DUPLICATE_KEY for e in exc.details["writeErrors"]):
                raise
            return exc.details["nInserted"]

    def _refuse_other_trees(self, seed: int | None) -> None:
        other = self.meta.find_one({"$or": [{"seed": {"$ne": seed}}, {"version": {"$ne": GENERATOR_VERSION}}]})
        if other:
            raise TreeMismatch(
                f"registry holds tree {other['_id']!r} (seed {other['seed']}, version {other['version']}); "
                f"drop org_units before loading seed {seed}, version {GENERATOR_VERSION}"
            )


def _document(unit: Unit) -> dict:
    doc = dict(unit)
    doc["_id"] = doc.pop("id")
    return doc


def _unit(doc: dict | None) -> Unit | None:
    if doc is None:
        return None
    return Unit(id=doc.pop("_id"), **doc)
