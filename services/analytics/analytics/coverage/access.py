"""Who may read coverage: bearer tokens checked on Faust's aiohttp web server.

shared/auth/http.py does this for FastAPI; the rules are the same here. Organisers need the
coverage:read scope and see their own unit's subtree (HQ, unit "IN", sees all); a service
holding coverage:read (a dashboard's backend) sees all.
"""

from __future__ import annotations

from shared.auth.keys import public_key_file
from shared.auth.tokens import ORGANISER, InvalidTokenError, Principal, verify
from shared.problems import ProblemError
from shared.settings import PlatformSettings

SCOPE = "coverage:read"


def unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", "Authentication required", detail,
                        headers={"WWW-Authenticate": 'Bearer realm="sangathan"'})


class CoverageAccess:
    def __init__(self, settings: PlatformSettings):
        self.key = public_key_file(settings.auth_public_key_file)  # re-read when rotated
        self.issuer, self.audience = settings.auth_issuer, settings.auth_audience

    def reader(self, authorization: str | None) -> Principal:
        """The caller, who must hold coverage:read; ProblemError 401/403 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("send an Authorization: Bearer <token> header")
        try:
            key = self.key.get()
        except OSError:
            raise ProblemError(503, "auth-unavailable", "Cannot check tokens now",
                               "the issuer's public key cannot be read") from None
        try:
            who = verify(token.strip(), key, issuer=self.issuer, audience=self.audience)
        except InvalidTokenError as exc:
            raise unauthenticated(f"the bearer token is not valid: {exc}") from None
        if SCOPE not in who.scopes:
            raise ProblemError(403, "missing-scope", "Not allowed", f"the token lacks the {SCOPE!r} scope")
        return who

    @staticmethod
    def may_read(who: Principal, unit_ids: list[str]) -> bool:
        """Services with the scope read everything; organisers any unit inside their own."""
        return who.kind != ORGANISER or any(who.may_act_in(u) for u in unit_ids)

    def require(self, who: Principal, unit_ids: list[str]) -> None:
        if not self.may_read(who, unit_ids):
            raise ProblemError(403, "outside-jurisdiction", "Not allowed",
                               f"{unit_ids[0]} is outside your unit {who.unit}; you see only your own unit's coverage")
