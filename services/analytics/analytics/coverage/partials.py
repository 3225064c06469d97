"""Totals split by source partition, so that several workers can add them up without double
counting.

A worker owns some partitions of the booth-keyed topics. For each one it keeps, per unit (and
per directive), what that partition's booths add up to: a *partial*. It publishes partials to a
compacted topic keyed by unit and partition; every worker reads that topic back into a
`CoverageView`, whose total for a unit is the sum of its partials. A partition has one owner at
a time, so every booth is counted exactly once, whichever worker holds it, and a new owner's
partials simply replace the old owner's. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar

from analytics.coverage.domain import Counts, Reach

COVERAGE, REACH, DIRECTIVE = "c", "r", "m"


class Additive(Protocol):
    def add(self, other, sign: int = 1) -> None: ...
    def copy(self): ...
    def to_json(self) -> dict: ...


V = TypeVar("V", bound=Additive)


class Tally:
    """Named numbers that add up, listed in NUMBERS by a dataclass: a partial, or a sum of them."""

    NUMBERS: tuple[str, ...] = ()

    def add(self, other, sign: int = 1) -> None:
        for name in self.NUMBERS:
            setattr(self, name, getattr(self, name) + sign * getattr(other, name))

    def numbers(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.NUMBERS}

    @classmethod
    def sum(cls, parts: Iterable):
        total = cls()
        for part in parts:
            total.add(part)
        return total


def partial_key(kind: str, ident: str, partition: int) -> str:
    return f"{kind}|{ident}|{partition}"


def directive_key(directive_id: str) -> str:
    return f"{DIRECTIVE}|{directive_id}"


def parse_key(key: str) -> tuple[str, str, int | None]:
    """(kind, unit or directive id, partition or None for a directive's own record)."""
    kind, _, rest = key.partition("|")
    if kind == DIRECTIVE:
        return kind, rest, None
    ident, _, partition = rest.rpartition("|")
    return kind, ident, int(partition)


def replace_part(store: dict[str, dict], ident: str, partition: int, new):
    """Put a partition's new value (None: gone) for an ident in a view's store of partials;
    return the one it replaces."""
    parts = store.setdefault(ident, {})
    old = parts.pop(partition, None)
    if new is not None:
        parts[partition] = new
    elif not parts:
        del store[ident]
    return old


def held_of_partitions(
    stores: Mapping[str, Mapping[str, Mapping[int, object]]], partitions: Iterable[int]
) -> dict[int, dict[str, dict[str, object]]]:
    """Per partition, then kind, what a view holds of that partition (ident -> partial; its
    stores by kind: ident -> partition -> partial): a new owner publishes what differs, and
    zeroes what it lacks."""
    held: dict[int, dict[str, dict[str, object]]] = {
        p: {kind: {} for kind in stores} for p in partitions
    }
    for kind, store in stores.items():
        for ident, parts in store.items():
            for partition, value in parts.items():
                if partition in held:
                    held[partition][kind][ident] = value
    return held


class PartialBook(Generic[V]):
    """One worker's partials of one kind, per partition it owns, with what changed since
    published."""

    def __init__(self, kind: str, zero: Callable[[], V]):
        self.kind = kind
        self._zero = zero
        self._parts: dict[int, dict[str, V]] = {}
        self._dirty: dict[int, set[str]] = {}

    def change(self, partition: int, changes: Iterable[tuple[str, V | None, V | None]]) -> None:
        """Replace what booths added to keys: (key, what it added before or None, what it adds
        now)."""
        part = self._parts.setdefault(partition, {})
        dirty = self._dirty.setdefault(partition, set())
        for key, old, new in changes:
            value = part.get(key)
            if value is None:
                value = part[key] = self._zero()
            if old is not None:
                value.add(old, -1)
            if new is not None:
                value.add(new)
            dirty.add(key)

    def rebuild(
        self, partition: int, contributions: Iterable[tuple[str, V]], held: Mapping[str, V] = {}
    ) -> None:
        """Start the partition over from its booths (see fold and replace)."""
        part: dict[str, V] = {}
        self.fold(part, contributions)
        self.replace(partition, part, held)

    def fold(self, part: dict[str, V], contributions: Iterable[tuple[str, V]]) -> None:
        """Add contributions to a partition's partials being rebuilt (in as many goes as the
        caller likes, so a long rebuild can let other work run between them)."""
        for key, value in contributions:
            total = part.get(key)
            if total is None:
                total = part[key] = self._zero()
            total.add(value)

    def replace(self, partition: int, part: dict[str, V], held: Mapping[str, V] = {}) -> None:
        """Make a rebuilt partition's partials the book's. `held` is what the view holds of the
        partition: keys it holds and the rows no longer count become zero, and only partials
        that differ from the view's are published (after a restart nearly none do: the old
        owner published them all before)."""
        for key in held:
            part.setdefault(key, self._zero())
        self._parts[partition] = part
        self._dirty[partition] = {key for key, value in part.items() if held.get(key) != value}

    def forget(self, partition: int, keys: Iterable[str]) -> None:
        """Withdraw keys of a partition: gone from here, and published as tombstones (None) so
        every view lets go of them too (a dropped meeting's partials)."""
        part = self._parts.get(partition, {})
        dirty = self._dirty.setdefault(partition, set())
        for key in keys:
            part.pop(key, None)
            dirty.add(key)

    def drop(self, partition: int) -> None:
        self._parts.pop(partition, None)
        self._dirty.pop(partition, None)

    def partitions(self) -> set[int]:
        return set(self._parts)

    def get(self, partition: int, key: str) -> V | None:
        return self._parts.get(partition, {}).get(key)

    def mark_dirty(self, keys: Iterable[tuple[int, str]]) -> None:
        for partition, key in keys:
            if partition in self._parts:
                self._dirty.setdefault(partition, set()).add(key)

    def take_dirty(
        self, partitions: Iterable[int] | None = None
    ) -> list[tuple[int, str, V | None]]:
        """What changed since the last call (for the given partitions), to publish; None for a
        key forgotten since. The book's own values, not copies (a copy of each was a fifth of
        the publishing at a morning's answers): the caller encodes them before anything else
        runs on the event loop and changes them."""
        taken = []
        for partition in list(self._dirty if partitions is None else partitions):
            keys = self._dirty.pop(partition, set())
            part = self._parts.get(partition, {})
            taken.extend((partition, key, part.get(key)) for key in keys)
        return taken


class CoverageView:
    """Every worker's partials read back from the topic: totals for any unit or directive."""

    def __init__(self):
        self._coverage: dict[str, dict[int, Counts]] = {}
        self._reach: dict[str, dict[int, Reach]] = {}
        self.directives: dict[str, dict] = {}
        self._changed: set[str] = set()
        # Counts.reported() last published on the coverage topic, per unit (read back, or sent by
        # us).
        self.published: dict[str, tuple] = {}

    def on_record(self, key: str, value: dict | None) -> None:
        kind, ident, partition = parse_key(key)
        if kind == DIRECTIVE:
            if value is None:
                self.directives.pop(ident, None)
            else:
                self.directives[ident] = value
            return
        store, decode = (
            (self._coverage, Counts.from_json)
            if kind == COVERAGE
            else (self._reach, Reach.from_json)
        )
        parts = store.setdefault(ident, {})
        if value is None:
            parts.pop(partition, None)
        else:
            parts[partition] = decode(value)
        if kind == COVERAGE:
            self._changed.add(ident)

    def totals(self, unit_id: str) -> Counts:
        return Counts.sum(self._coverage.get(unit_id, {}).values())

    def reach(self, directive_id: str) -> Reach:
        return Reach.sum(self._reach.get(directive_id, {}).values())

    def held_of_partitions(self, partitions: Iterable[int]) -> dict[int, dict[str, dict]]:
        return held_of_partitions({COVERAGE: self._coverage, REACH: self._reach}, partitions)

    def units(self) -> list[str]:
        return list(self._coverage)

    def mark_changed(self, units: Iterable[str]) -> None:
        self._changed.update(units)

    def take_changed(self) -> set[str]:
        changed, self._changed = self._changed, set()
        return changed


def due_updates(
    view: CoverageView, units: Iterable[str], countable: Callable[[str], bool]
) -> list[tuple[str, Counts]]:
    """Units whose totals differ from what the coverage topic last said, with those totals."""
    due = []
    for unit in units:
        if not countable(unit):
            continue
        totals = view.totals(unit)
        if view.published.get(unit) != totals.reported():
            due.append((unit, totals))
    return due
