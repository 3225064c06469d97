"""The organisation registry in MongoDB: one document per unit (`org_units`), and beside them
each unit's children (`org_children`) and its booths in pages (`org_booth_pages`).

Designed for FerretDB v1 as well as MongoDB: no transactions, no $lookup. A unit's `_id` is its
readable id and its `ancestors` array holds every id above it; a reload of the same tree is
idempotent by duplicate key.

On the local FerretDB v1 (SQLite) only a filter on `_id` alone reaches SQLite, where the index
deploy/local/ferretdb adds serves it (~1 ms); any other filter is a scan in FerretDB itself
(about a minute on the national tree's 1.28M units). So every read here is a lookup by `_id`:
the loader derives the children and booth-page documents as the units stream in
(shared/orgtree/index.py), and a drill-down step or a page of booths is one lookup on the
national tree as on a state's.
"""

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import count, islice

from pymongo import ASCENDING
from pymongo.database import Database

from shared.logging import get_logger
from shared.mongo import insert_ignoring_duplicates
from shared.orgtree.generator import GENERATOR_VERSION
from shared.orgtree.index import PAGE_SIZE, TreeIndex, children_of, merged_children, page_id
from shared.orgtree.levels import LEVELS, NATIONAL_ID, Unit, level_of

# Bump when the children or booth-page documents change: a registry loaded before is indexed again.
INDEX_VERSION = 1

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
        self.child_lists = db["org_children"]
        self.booth_pages = db["org_booth_pages"]
        self.meta = db["org_registry_meta"]

    def ensure_indexes(self) -> None:
        self.units.create_index("parent")
        self.units.create_index("ancestors")
        self.units.create_index([("state", ASCENDING), ("level", ASCENDING)])

    def loaded(self, tree: str, seed: int) -> int | None:
        """How many units a completed load of this tree left, or None if there was none."""
        meta = self.meta.find_one(
            {"_id": tree, "seed": seed, "version": GENERATOR_VERSION, "index": INDEX_VERSION}
        )
        return meta["units"] if meta else None

    def load(
        self,
        units: Iterable[Unit],
        batch_size: int = 5000,
        *,
        tree: str | None = None,
        seed: int | None = None,
    ) -> LoadReport:
        """Insert units in unordered batches; units already present are left as they are.

        `units` must come depth-first, parents before children (the generator's order, or a
        sort by id): the children and booth-page documents are derived on the way.
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
        units, index = iter(units), TreeIndex()
        while batch := list(islice(units, batch_size)):
            total += len(batch)
            inserted += self._insert_new([_document(u) for u in batch])
            self._write_index([doc for unit in batch for doc in index.add(unit)])
        self._write_index(index.close())
        # Secondary indexes after the bulk insert: building once beats updating per document.
        self.ensure_indexes()
        if tree is not None:
            self.meta.replace_one(
                {"_id": tree},
                {
                    "seed": seed,
                    "version": GENERATOR_VERSION,
                    "index": INDEX_VERSION,
                    "units": total,
                    "loaded_at": datetime.now(timezone.utc),
                },
                upsert=True,
            )
        report = LoadReport(total, inserted, time.monotonic() - started, skipped=False)
        log.info(
            "org units loaded",
            fields={
                "tree": tree,
                "units": total,
                "inserted": inserted,
                "seconds": round(report.seconds, 1),
            },
        )
        return report

    def get(self, unit_id: str) -> Unit | None:
        return _unit(self.units.find_one({"_id": unit_id}))

    def get_many(self, unit_ids: Iterable[str]) -> dict[str, Unit]:
        """The units among these ids that exist, by id, in one read (`_id: {$in}`, which the
        local FerretDB serves from its `_id` index: deploy/local/ferretdb/narrow-id-in.patch)."""
        wanted = sorted(set(unit_ids))
        if not wanted:
            return {}
        with self.units.find({"_id": {"$in": wanted}}) as cursor:
            return {u["id"]: u for u in map(_unit, cursor)}

    def ancestors(self, unit: Unit) -> list[Unit]:
        """The unit's ancestors, national first.

        At most six lookups by `_id` rather than one `$in`: FerretDB v1 serves `_id` equality
        from an index (see deploy/local/ferretdb/idindex.go) but scans for `$in`.
        """
        found = (self.get(i) for i in unit["ancestors"])
        return [u for u in found if u is not None]

    def children(self, unit_id: str) -> list[Unit]:
        """The unit's children in id order (zero-padded ids sort in the organisation's
        numbering)."""
        return children_of(self.child_lists.find_one({"_id": unit_id}))

    def subtree(self, unit_id: str) -> Iterator[Unit]:
        """The unit and every unit below it, depth-first, parents first (as `load` takes them)."""
        unit = self.get(unit_id)
        if unit is not None:
            yield unit
            yield from self._below(unit_id)

    def _below(self, unit_id: str) -> Iterator[Unit]:
        for child in self.children(unit_id):
            yield child
            if child["level"] != "booth":
                yield from self._below(child["id"])

    def booth_units(self, booth_ids: Iterable[str]) -> dict[str, Unit]:
        """The booths among these ids that exist, by id: one lookup per sector, not per booth."""
        wanted = set(booth_ids)
        sectors = {
            b.rsplit("-", 1)[0] for b in wanted if b.count("-") == len(LEVELS) - 1
        }  # booth depth
        return {
            u["id"]: u
            for sector in sorted(sectors)
            for u in self.children(sector)
            if u["id"] in wanted
        }

    def booth_ids_under(self, unit_id: str) -> Iterator[str]:
        """Every booth id in the unit's subtree (the booth itself, for a booth), streamed page by
        page."""
        if level_of(unit_id) == "booth":
            if self.get(unit_id) is not None:
                yield unit_id
        elif unit_id == NATIONAL_ID:
            for state in self.children(NATIONAL_ID):
                yield from self.booth_ids_under(state["id"])
        else:
            for page in count():
                doc = self.booth_pages.find_one({"_id": page_id(unit_id, page)})
                if doc is None:
                    return
                yield from doc["booths"]

    def booth_page(self, unit_id: str, page: int) -> list[str]:
        """Page `page` (from 0) of the unit's booth ids in tree order, PAGE_SIZE a page; [] past the
        end."""
        if level_of(unit_id) == "booth":
            return [unit_id] if page == 0 and self.get(unit_id) is not None else []
        if unit_id == NATIONAL_ID:  # the nation's pages are its states' pages, state after state
            for state in self.children(NATIONAL_ID):
                pages = -(-state["booths"] // PAGE_SIZE)
                if page < pages:
                    return self.booth_page(state["id"], page)
                page -= pages
            return []
        doc = self.booth_pages.find_one({"_id": page_id(unit_id, page)})
        return doc["booths"] if doc else []

    def is_within(self, unit_id: str, ancestor_id: str) -> bool:
        """Whether the unit is the given unit or lies in its subtree."""
        # A lookup by _id alone: the one filter FerretDB v1 pushes down to SQLite.
        unit = self.get(unit_id)
        return unit is not None and (unit_id == ancestor_id or ancestor_id in unit["ancestors"])

    def level_counts(self, state: str | None = None) -> dict[str, int]:
        """Units per level, in level order (for a state, or the whole registry)."""
        match = {"state": state} if state else {}
        rows = self.units.aggregate(
            [{"$match": match}, {"$group": {"_id": "$level", "n": {"$sum": 1}}}]
        )
        counts = {row["_id"]: row["n"] for row in rows}
        return {level.name: counts[level.name] for level in LEVELS if level.name in counts}

    def _insert_new(self, batch: list[dict]) -> int:
        return len(batch) - len(insert_ignoring_duplicates(self.units, batch))

    def _write_index(self, docs: list[tuple[str, dict]]) -> None:
        children = [doc for kind, doc in docs if kind == "children"]
        # Each state's load brings the nation's unit: its children are those of every load.
        children = [
            merged_children(self.child_lists.find_one({"_id": NATIONAL_ID}), doc)
            if doc["_id"] == NATIONAL_ID
            else doc
            for doc in children
        ]
        _put_all(self.child_lists, children)
        _put_all(self.booth_pages, [doc for kind, doc in docs if kind == "pages"])

    def _refuse_other_trees(self, seed: int | None) -> None:
        other = self.meta.find_one(
            {"$or": [{"seed": {"$ne": seed}}, {"version": {"$ne": GENERATOR_VERSION}}]}
        )
        if other:
            raise TreeMismatch(
                f"registry holds tree {other['_id']!r} "
                f"(seed {other['seed']}, version {other['version']}); "
                f"drop org_units before loading seed {seed}, version {GENERATOR_VERSION}"
            )


def _put_all(collection, docs: list[dict]) -> None:
    """Insert in one unordered batch; a document already there (a tree indexed again) is
    replaced."""
    for i in insert_ignoring_duplicates(collection, docs):
        collection.replace_one({"_id": docs[i]["_id"]}, docs[i])


def _document(unit: Unit) -> dict:
    doc = dict(unit)
    doc["_id"] = doc.pop("id")
    return doc


def _unit(doc: dict | None) -> Unit | None:
    if doc is None:
        return None
    return Unit(id=doc.pop("_id"), **doc)
