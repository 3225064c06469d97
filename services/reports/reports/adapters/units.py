"""The organisation registry as the answers' handler reads it: that an answering booth exists is
asked by concurrent answers together, one read of their ids (`OrgRegistry.get_many`) through a
group commit (adapters/batching.py), instead of one round trip each. A booth answers once, so the
handler's memo (memo.py) seldom knows it already. Everything else is the registry's own."""

from __future__ import annotations

from typing import Any

from shared.batching import Batcher
from shared.orgtree.levels import Unit
from shared.orgtree.repository import OrgRegistry


class BatchedUnits:
    def __init__(self, registry: OrgRegistry, lookups: Batcher | None = None):
        self.registry, self.lookups = registry, lookups

    def get(self, unit_id: str) -> Unit | None:
        if self.lookups is None:
            return self.registry.get(unit_id)
        return self.lookups.submit(unit_id)

    def get_among(self, unit_ids: list[str]) -> list[Unit | None]:
        """The group commit's read: each id's unit, or None, in one find."""
        found = self.registry.get_many(unit_ids)
        return [found.get(u) for u in unit_ids]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.registry, name)
