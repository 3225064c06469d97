"""The organisation's levels, as data, and the shape of one unit.

A unit's id is its parent's id plus one segment (`IN-HP-D07-A03-M02-S05-B012`), so an id
reads like an address. Each level below the state has a one-letter prefix and a fixed
zero-padded width, so ids sort in tree order as plain strings.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict


@dataclass(frozen=True)
class Level:
    name: str
    name_hi: str
    label: str  # English word in generated names: "Mandal 12"
    prefix: str = ""  # id segment prefix; national and state segments are codes instead
    width: int = 0


LEVELS = (
    Level("national", "राष्ट्रीय", "National"),
    Level("state", "प्रदेश", "State"),
    Level("district", "जिला", "District", "D", 2),
    Level("assembly", "विधानसभा", "Assembly", "A", 2),
    Level("mandal", "मंडल", "Mandal", "M", 2),
    Level("sector", "सेक्टर", "Sector", "S", 2),
    Level("booth", "बूथ", "Booth", "B", 3),
)
BY_NAME = {level.name: level for level in LEVELS}
NATIONAL_ID = "IN"


class Unit(TypedDict):
    id: str
    level: str
    parent: str | None
    ancestors: list[str]  # ids from national down to the parent; not the unit itself
    state: str | None  # state code ("HP"); None only for the national unit
    name: str
    name_hi: str
    booths: int  # booths in the subtree; 1 for a booth


def child_id(parent_id: str, level: Level, number: int) -> str:
    if number >= 10**level.width:
        raise ValueError(f"{level.name} number {number} overflows its {level.width}-digit id")
    return f"{parent_id}-{level.prefix}{number:0{level.width}d}"


def level_of(unit_id: str) -> str:
    """The level an id names, read from its depth (no lookup needed)."""
    depth = unit_id.count("-")
    if depth >= len(LEVELS):
        raise ValueError(f"{unit_id!r} is deeper than a booth")
    return LEVELS[depth].name


def ancestor_ids(unit_id: str) -> list[str]:
    """The ids above a unit, national first, read from its own id (no lookup needed)."""
    parts = unit_id.split("-")
    return ["-".join(parts[:n]) for n in range(1, len(parts))]


# Unit ids extend their parent's by one segment (`IN-HP-D07` is under `IN-HP`), so the rules
# below read the tree from ids alone, with no lookup. Every service asks them here.


def is_within(unit_id: str, ancestor_id: str) -> bool:
    """Whether the unit is the given unit or lies in its subtree."""
    return unit_id == ancestor_id or unit_id.startswith(ancestor_id + "-")


def overlap(units: Iterable[str], others: Iterable[str]) -> bool:
    """Whether some booth lies in both sets of units: one unit is the other or under it."""
    others = list(others)
    return any(is_within(u, o) or is_within(o, u) for u in units for o in others)


def outermost(units: Iterable[str]) -> list[str]:
    """The units not inside another of them, sorted (`IN-HP` covers `IN-HP-D03`): a scope in
    which no booth is counted or reached twice."""
    kept: list[str] = []
    for unit in sorted(set(units), key=lambda u: (u.count("-"), u)):
        if not any(is_within(unit, k) for k in kept):
            kept.append(unit)
    return sorted(kept)


def booth_path(booth_id: str) -> dict[str, str] | None:
    """A booth's ancestors by level, as events carry them (`booth_path`), or None for an id that is
    not a booth's."""
    ancestors = ancestor_ids(booth_id)
    return path_of(ancestors) if len(ancestors) == len(LEVELS) - 1 else None


def path_of(ancestors: list[str]) -> dict[str, str]:
    """Ancestor ids (national first) named by level: {"state": ..., ..., "sector": ...}."""
    return {level.name: unit for level, unit in zip(LEVELS[1:], ancestors[1:])}
