"""A unit's office-bearers (a mandal's president, a sector's shakti kendra pramukh): which roles
each level has, how many seats, and who may appoint them. Data in `catalogue.yaml` (`offices`),
beside the booth team's roles, so the appointments service (refusing a seat), the audience check
of directives and meetings, and the demo seeding read one registry.

Pure: reading the catalogue is the only I/O, once.
"""

from dataclasses import dataclass
from functools import cache

from shared.orgtree.levels import BY_NAME, LEVELS, is_within, level_of
from shared.teams.rules import Role, TeamRules, _catalogue, rules_for

MANDAL_PRESIDENT = "mandal_president"


@dataclass(frozen=True)
class Office:
    """The office-bearers of every unit of one level."""

    level: str
    appointed_from: str  # the lowest level whose organisers may appoint them
    rules: TeamRules  # one seat count per role; no women's rule (that is the booth team's)

    def may_appoint(self, organiser_unit: str | None, unit_id: str) -> bool:
        """An organiser of `appointed_from` or above, over the unit, and never the unit's own:
        a mandal does not choose its own president."""
        if not organiser_unit or organiser_unit == unit_id:
            return False
        return is_within(unit_id, organiser_unit) and _depth(level_of(organiser_unit)) <= _depth(
            self.appointed_from
        )


def _depth(level: str) -> int:
    return LEVELS.index(BY_NAME[level])


@cache
def offices() -> dict[str, Office]:
    """Every level that has office-bearers, by level name."""
    found = {}
    for level, spec in _catalogue().get("offices", {}).items():
        roles = {key: Role(key=key, min=0, **seats) for key, seats in spec["roles"].items()}
        rules = TeamRules(max_members=sum(r.max for r in roles.values()), min_women=0, roles=roles)
        found[level] = Office(level=level, appointed_from=spec["appointed_from"], rules=rules)
    return found


def office_at(unit_id: str) -> Office | None:
    """The office-bearers a unit has, by its level; None for a level without any (a booth), or
    an id deeper than a booth's."""
    try:
        return offices().get(level_of(unit_id))
    except ValueError:
        return None


@cache
def office_roles() -> tuple[str, ...]:
    """Every office-bearer role of every level."""
    return tuple(role for office in offices().values() for role in office.rules.roles)


def audience_roles(state_code: str | None = None) -> tuple[str, ...]:
    """Every role an audience may name: the booth team's and the units' office-bearers'."""
    return (*rules_for(state_code).roles, *office_roles())
