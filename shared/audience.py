"""An audience an organiser addresses (a directive's, a meeting's): scope units and roles.

The one check of both before anything is stored: every scope unit inside the organiser's own unit
(403), every role one a booth team or a unit's office-bearers have (422, naming the roles there
are: `shared/teams/catalogue.yaml`)."""

from collections.abc import Iterable

from shared.auth.access import require_jurisdiction
from shared.auth.tokens import Principal
from shared.problems import ProblemError
from shared.teams.offices import audience_roles


def require_audience(who: Principal, scope: Iterable[str], audience: Iterable[str]) -> None:
    for unit in scope:
        require_jurisdiction(who, unit)
    roles = set(audience_roles())
    unknown = [role for role in audience if role not in roles]
    if unknown:
        raise ProblemError(
            422,
            "unknown-role",
            "Unknown role",
            f"{', '.join(unknown)} is not a team or office role; "
            f"roles: {', '.join(sorted(roles))}.",
        )
