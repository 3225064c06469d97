"""The org registry as the stream reads it: by `_id` only, cached, off the event loop.

Every registry read is a lookup by `_id` (~1 ms on FerretDB; a children list is one document,
a unit's booths one document per thousand). Units and children lists are still kept for a while:
the tree changes rarely, and a stale children list only delays a new unit's appearance in its
parent's listing.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.logging import get_logger
from shared.orgtree.levels import Unit
from shared.orgtree.repository import OrgRegistry

log = get_logger(__name__)


class RegistryUnavailable(Exception):
    """The registry did not answer; the caller decides whether to retry or to fail the request."""


class CachedRegistry:
    def __init__(
        self,
        registry: OrgRegistry,
        children_ttl_s: float,
        *,
        max_units: int = 50_000,
        missing_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._registry = registry
        self._children_ttl_s, self._missing_ttl_s = children_ttl_s, missing_ttl_s
        self._max_units = max_units
        self._clock = clock
        self._units: OrderedDict[str, Unit] = OrderedDict()  # least recently used first
        self._missing: dict[str, float] = {}  # unit id -> when to ask again
        self._children: dict[str, tuple[float, list[Unit]]] = {}

    async def unit(self, unit_id: str) -> Unit | None:
        """The unit, or None if the registry has no such unit. Raises RegistryUnavailable."""
        if unit_id in self._units:
            self._units.move_to_end(unit_id)
            return self._units[unit_id]
        if self._missing.get(unit_id, 0) > self._clock():
            return None
        unit = await self._ask(self._registry.get, unit_id)
        if unit is None:
            self._missing[unit_id] = self._clock() + self._missing_ttl_s
            if len(self._missing) > self._max_units:
                self._missing.clear()
            return None
        self._units[unit_id] = unit
        if len(self._units) > self._max_units:
            self._units.popitem(last=False)
        return unit

    async def children(self, unit_id: str) -> list[Unit]:
        cached = self._children.get(unit_id)
        if cached and cached[0] > self._clock():
            return cached[1]
        children = await self._ask(self._registry.children, unit_id)
        self._children[unit_id] = (self._clock() + self._children_ttl_s, children)
        return children

    async def booth_ids_under(self, unit_id: str) -> list[str]:
        """Every booth id in the unit's subtree, one lookup per thousand booths; not cached."""
        return await self._ask(lambda u: list(self._registry.booth_ids_under(u)), unit_id)

    async def _ask(self, method, unit_id: str):
        try:
            return await asyncio.to_thread(method, unit_id)
        except Exception as exc:  # pymongo raises many kinds; all mean "not now"
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc

    async def unit_until_answered(
        self,
        unit_id: str,
        stopping: Callable[[], bool],
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> Unit | None:
        """For the stream: wait out a registry outage rather than drop or dead-letter an event."""
        delay = backoff_s
        while True:
            try:
                return await self.unit(unit_id)
            except RegistryUnavailable as exc:
                if stopping():
                    raise
                log.warning(
                    "registry unavailable; retrying",
                    fields={"unit_id": unit_id, "error": str(exc), "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_backoff_s)
