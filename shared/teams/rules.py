"""Team rules: which roles exist, how many seats each has, and when a team is complete.

Pure functions over (role, gender) pairs, so the appointments service (refusing a broken
appointment) and the analytics stream (counting complete teams) apply the same rules.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
PRESIDENT = "booth_president"
WHATSAPP_PRAMUKH = "whatsapp_pramukh"
GENDERS = ("female", "male", "other")


@dataclass(frozen=True)
class Role:
    key: str
    name: str
    name_hi: str
    min: int  # seats that must be filled for a complete team
    max: int  # seats per booth


@dataclass(frozen=True)
class TeamRules:
    max_members: int
    min_women: int
    roles: dict[str, Role] = field(default_factory=dict)

    def violation(self, members: Iterable[tuple[str, str]], role: str) -> str | None:
        """Why adding one `role` to a team of active (role, gender) members breaks a rule, or
        None."""
        members = list(members)
        if role not in self.roles:
            return f"unknown role {role!r}; known roles: {', '.join(self.roles)}"
        if len(members) >= self.max_members:
            return f"the team already has {self.max_members} members, the most allowed"
        held = sum(1 for r, _ in members if r == role)
        if held >= self.roles[role].max:
            seats = self.roles[role].max
            return (
                f"role {role} is already filled ({seats} seat{'s' if seats != 1 else ''} per booth)"
            )
        return None

    def is_complete(self, members: Iterable[tuple[str, str]]) -> bool:
        """All required roles filled and at least `min_women` women among the members."""
        members = list(members)
        by_role = Counter(r for r, _ in members)
        women = sum(1 for _, g in members if g == "female")
        return women >= self.min_women and all(by_role[k] >= r.min for k, r in self.roles.items())

    def missing(self, members: Iterable[tuple[str, str]]) -> dict[str, int]:
        """What a team still lacks: required seats per role, and "women" if too few."""
        members = list(members)
        by_role = Counter(r for r, _ in members)
        gaps = {k: r.min - by_role[k] for k, r in self.roles.items() if by_role[k] < r.min}
        women = sum(1 for _, g in members if g == "female")
        if women < self.min_women:
            gaps["women"] = self.min_women - women
        return gaps


@cache
def _catalogue() -> dict:
    return yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))


@cache
def rules_for(state_code: str | None = None) -> TeamRules:
    """The organisation's rules with the state's overrides (state code like "HP") applied."""
    catalogue = _catalogue()
    merged = {**catalogue["organisation"], **catalogue.get("states", {}).get(state_code or "", {})}
    roles = {key: Role(key=key, **spec) for key, spec in merged["roles"].items()}
    return TeamRules(max_members=merged["max_members"], min_women=merged["min_women"], roles=roles)
