"""An audience an organiser addresses (a directive's, a meeting's): scope units and booth roles.

The one check of both before anything is stored: every scope unit inside the organiser's own unit
(403), every role one a booth team has (422, naming the roles there are)."""

from collections.abc import Iterable

from shared.auth.access import require_jurisdiction
from shared.auth.tokens import Principal
from shared.problems import ProblemError
from shared.teams.rules import rules_for


def require_audience(who: Principal, scope: Iterable[str], audience: Iterable[str]) -> None:
    for unit in scope:
        require_jurisdiction(who, unit)
    roles = set(rules_for().roles)
    unknown = [role for role in audience if role not in roles]
    if unknown:
        raise ProblemError(
            422,
            "unknown-role",
            "Unknown role",
            f"{', '.join(unknown)} is not a booth-team role; roles: {', '.join(sorted(roles))}.",
        )
