"""The organisation registry as the answers' handler reads it.

That an answering booth exists is asked by concurrent answers together, through a group commit
(shared/batching.py), instead of one round trip each; a booth answers once, so the handler's memo
(memo.py) seldom knows it already. The registry is asked by its booth pages (`org_booth_pages`,
the booth ids of each unit, PAGE_SIZE a page), not its units: one `_id: {$in}` read of the first
page of each answering booth's sector, a short list of ids, rather than of each booth's own unit
document, which the local FerretDB converts field by field (its ancestors, name and counts): about
a quarter of the store's CPU per answer at the morning peak. A sector whose first page is full,
or has no page, is asked by its booths' unit documents. Everything else is the registry's own.

A first page read is kept (`SECTORS_KEPT` sectors, least recently used out): the next answering
booth of the sector is found in it without a read (a page was ~40 % of the store's CPU per answer).
A booth not in a kept page is asked again, so one added since is found; one removed since is still
taken, as the handler's memo of booths already takes it (memo.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from reports.memo import Memo
from shared.batching import Batcher
from shared.orgtree.index import PAGE_SIZE, page_id
from shared.orgtree.levels import booth_path
from shared.orgtree.repository import OrgRegistry

SECTORS_KEPT = 50_000  # ~5 booths a sector: ~65 MB when full (tracemalloc)


class BatchedUnits:
    def __init__(
        self, registry: OrgRegistry, listed: Batcher | None = None, *, kept: int = SECTORS_KEPT
    ):
        self.registry, self.listed = registry, listed
        self.first_pages: Memo[str, frozenset[str]] = Memo(kept)  # by sector

    def booth_exists(self, booth_id: str) -> bool:
        """Whether the registry holds this booth: in its sector's kept first page, or else asked
        (batched with concurrent answers' booths)."""
        if self._kept(booth_id):
            return True
        if self.listed is None:
            return self.listed_among([booth_id])[0]
        return self.listed.submit(booth_id)

    async def booth_exists_async(self, booth_id: str) -> bool:
        """`booth_exists` awaited on the event loop (in a thread without a group commit)."""
        if self._kept(booth_id):
            return True
        if self.listed is None:
            return await asyncio.to_thread(self.booth_exists, booth_id)
        return await self.listed.submit_async(booth_id)

    def _kept(self, booth_id: str) -> bool:
        path = booth_path(booth_id)
        return path is not None and booth_id in self.first_pages.known(path["sector"], frozenset())

    def listed_among(self, booth_ids: list[str]) -> list[bool]:
        """The group commit's read: whether each id is a booth the registry holds."""
        sectors = {b: path["sector"] for b in booth_ids if (path := booth_path(b)) is not None}
        pages: dict[str, list[str]] = {}
        if sectors:
            wanted = sorted({page_id(s, 0) for s in sectors.values()})
            with self.registry.booth_pages.find({"_id": {"$in": wanted}}) as cursor:
                pages = {d["_id"]: d["booths"] for d in cursor}
            for sector in set(sectors.values()):
                if (page := pages.get(page_id(sector, 0))) is not None:
                    self.first_pages.remember(sector, frozenset(page))
        listed = {p: set(booths) for p, booths in pages.items()}
        unsure = [
            b
            for b in sectors
            if b not in listed.get(page_id(sectors[b], 0), ())
            and len(pages.get(page_id(sectors[b], 0), ())) in (0, PAGE_SIZE)
        ]
        found = self.registry.get_many(unsure) if unsure else {}
        return [
            b in sectors and (b in listed.get(page_id(sectors[b], 0), ()) or b in found)
            for b in booth_ids
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.registry, name)
