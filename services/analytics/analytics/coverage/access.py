"""Who may read coverage, on Faust's aiohttp web server: the platform's one token check
(shared.auth.access) and what a reader sees.

Organisers need the coverage:read scope and see their own unit's subtree (HQ, unit "IN", sees
all); a service holding coverage:read sees all. Besides the organisation's issuer, analytics
trusts the dashboard for the read-only tokens it exchanges for signed-in organisers
(shared.auth.exchange), and for nothing more.
"""

from __future__ import annotations

from analytics.settings import AnalyticsSettings
from shared.auth import exchange
from shared.auth.access import Authenticator, bearer_token, forbidden
from shared.auth.tokens import ORGANISER, Principal
from shared.orgtree.levels import overlap

SCOPE = "coverage:read"


class CoverageAccess:
    def __init__(self, settings: AnalyticsSettings):
        self.auth = Authenticator(
            settings, delegates=[exchange.delegate(settings.dashboard_public_key_file)]
        )

    def reader(self, authorization: str | None) -> Principal:
        """The caller, who must hold coverage:read; ProblemError 401/403 otherwise."""
        return self.auth.caller(bearer_token(authorization), scope=SCOPE)[0]

    @staticmethod
    def may_read(who: Principal, unit_ids: list[str]) -> bool:
        """Services with the scope read everything; organisers any unit inside their own."""
        return who.kind != ORGANISER or any(who.may_act_in(u) for u in unit_ids)

    def require(self, who: Principal, unit_ids: list[str]) -> None:
        if not self.may_read(who, unit_ids):
            raise forbidden(
                "outside-jurisdiction",
                f"{unit_ids[0]} is outside your unit {who.unit}; "
                "you see only your own unit's coverage",
            )

    def require_concerned(self, who: Principal, unit_ids: list[str]) -> None:
        """Something aimed at these units (a meeting's organiser and scope) concerns organisers
        whose unit shares a booth with them: a district's organiser follows their district's part
        of a state meeting, not another state's meetings."""
        if who.kind == ORGANISER and not overlap([who.unit], unit_ids):
            raise forbidden(
                "outside-jurisdiction",
                f"{unit_ids[0]} and its audience are outside your unit {who.unit}",
            )
