"""What the registry keeps beside the units so that any read of the tree is a lookup by `_id`.

FerretDB v1 on SQLite serves only a filter on `_id` alone from an index; any other filter is a
scan of every unit (about a minute on the national tree). So, as the loader streams units
depth-first (parents before children, as the generator and a sort by id give them), it also
derives, for every unit above the booth:

- a *children* document (`_id` = the unit): its children in id order, so a drill-down step is
  one lookup however large the tree;
- *booth pages* (`_id` = `<unit>/<page>`): its booth ids in tree order, PAGE_SIZE a page, so
  a page of a unit's booths is one lookup and every booth under a state is a few hundred.

The national unit gets no pages: its booths are its states' booths, state after state, and a
state's load would otherwise overwrite another's. Only the open path of the tree (at most six
units and a page each) is held while the nation streams through.

Pure: no I/O. The registry (repository.py) writes and reads these documents.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.orgtree.levels import NATIONAL_ID, Unit

PAGE_SIZE = 1000

# What a child entry keeps; parent, ancestors and (below the state) state come from the parent.
CHILD_FIELDS = ("id", "level", "state", "name", "name_hi", "booths")


def page_id(unit_id: str, page: int) -> str:
    return f"{unit_id}/{page:05d}"


def children_document(parent: Unit, children: Iterable[Unit]) -> dict:
    return {
        "_id": parent["id"],
        "ancestors": [*parent["ancestors"], parent["id"]],
        "children": sorted(
            ({k: c[k] for k in CHILD_FIELDS} for c in children), key=lambda c: c["id"]
        ),
    }


def children_of(document: dict | None) -> list[Unit]:
    """The children a children document lists, as whole units."""
    if document is None:
        return []
    parent = document["_id"]
    return [
        Unit(
            id=c["id"],
            level=c["level"],
            parent=parent,
            ancestors=document["ancestors"],
            state=c["state"],
            name=c["name"],
            name_hi=c["name_hi"],
            booths=c["booths"],
        )
        for c in document["children"]
    ]


def merged_children(existing: dict | None, new: dict) -> dict:
    """A children document with the children of both (the new entry wins for the same id)."""
    if existing is None:
        return new
    by_id = {c["id"]: c for c in existing["children"]} | {c["id"]: c for c in new["children"]}
    return {**new, "children": [by_id[i] for i in sorted(by_id)]}


@dataclass
class _Open:
    """A unit whose subtree is still streaming in."""

    unit: Unit
    children: list[Unit] = field(default_factory=list)
    page: list[str] = field(default_factory=list)
    pages_done: int = 0


class TreeIndex:
    """Feed it units depth-first with `add`, then `close`; each returns the documents completed.

    Documents come as ("children", doc) or ("pages", doc).
    """

    def __init__(self, page_size: int = PAGE_SIZE):
        self.page_size = page_size
        self._open: list[_Open] = []

    def add(self, unit: Unit) -> list[tuple[str, dict]]:
        done = []
        while self._open and self._open[-1].unit["id"] != unit["parent"]:
            done += self._finish(self._open.pop())
        if self._open:
            self._open[-1].children.append(unit)
        if unit["level"] == "booth":
            done += self._page_booth(unit["id"])
        else:
            self._open.append(_Open(unit))
        return done

    def close(self) -> list[tuple[str, dict]]:
        done = []
        while self._open:
            done += self._finish(self._open.pop())
        return done

    def _page_booth(self, booth_id: str) -> list[tuple[str, dict]]:
        done = []
        for unit in self._open:
            if unit.unit["id"] == NATIONAL_ID:
                continue
            unit.page.append(booth_id)
            if len(unit.page) == self.page_size:
                done.append(self._page(unit))
        return done

    def _page(self, unit: _Open) -> tuple[str, dict]:
        doc = {"_id": page_id(unit.unit["id"], unit.pages_done), "booths": unit.page}
        unit.page, unit.pages_done = [], unit.pages_done + 1
        return ("pages", doc)

    def _finish(self, unit: _Open) -> list[tuple[str, dict]]:
        done = [("children", children_document(unit.unit, unit.children))]
        if unit.page:
            done.append(self._page(unit))
        return done
