"""The organisation's levels, as data, and the shape of one unit.

A unit's id is its parent's id plus one segment (`IN-HP-D07-A03-M02-S05-B012`), so an id
reads like an address. Each level below the state has a one-letter prefix and a fixed
zero-padded width, so ids sort in tree order as plain strings.
"""

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


def is_within(unit_id: str, ancestor_id: str) -> bool:
    """Whether the unit is the given unit or lies in its subtree, read from the ids."""
    return unit_id == ancestor_id or unit_id.startswith(ancestor_id + "-")
