"""FastAPI side of authentication: bearer token in, `Principal` out, problems for the rest."""

import time
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.keys import public_key_file
from shared.auth.tokens import ORGANISER, SERVICE, InvalidTokenError, Principal, verify_until
from shared.problems import ProblemError
from shared.settings import PlatformSettings

_bearer = HTTPBearer(auto_error=False, description="An OAuth2 bearer JWT from the organisation's issuer")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", "Authentication required", detail,
                        headers={"WWW-Authenticate": 'Bearer realm="sangathan"'})


def forbidden(kind: str, detail: str) -> ProblemError:
    return ProblemError(403, kind, "Not allowed", detail)


class Authenticator:
    """Verifies bearer tokens with the issuer's public key (re-read when the file changes).

    A service sends the same token on every call for hours, and checking its signature and
    claims was a large part of a small request's CPU (the OTP service's verifications). So a
    token that verified is remembered, by its exact text and the key it verified with, until
    it expires; any other text, a changed key or a passed `exp` is verified in full again."""

    REMEMBERED = 1024  # tokens

    def __init__(self, settings: PlatformSettings):
        self.key = public_key_file(settings.auth_public_key_file)
        self.issuer, self.audience = settings.auth_issuer, settings.auth_audience
        self._verified: dict[str, tuple[object, Principal, float]] = {}  # token -> (key, who, exp)

    def principal(self, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        return self.principal_until(credentials)[0]

    def principal_until(self, credentials: HTTPAuthorizationCredentials | None) -> tuple[Principal, float]:
        """`principal`, and the epoch second its token expires at (a stream ends then)."""
        if credentials is None:
            raise unauthenticated("send an Authorization: Bearer <token> header")
        token, key = credentials.credentials, self.key.get()
        known = self._verified.get(token)
        if known is not None and known[0] is key and time.time() < known[2]:
            return known[1], known[2]
        try:
            who, expires = verify_until(token, key, issuer=self.issuer, audience=self.audience)
        except InvalidTokenError as exc:
            raise unauthenticated(f"the bearer token is not valid: {exc}") from None
        if len(self._verified) >= self.REMEMBERED:
            self._verified.clear()  # rare (services hold a handful of tokens) and safe across threads
        self._verified[token] = (key, who, expires)
        return who, expires

    # The dependencies below are `async def` although they do not wait for anything: FastAPI runs
    # a plain `def` dependency in its thread pool, one more thread hop on every request (about a
    # tenth of an OTP verification's CPU with the endpoint's own hop); checking a remembered token
    # is quicker than the hop, and a full EdDSA check still well under a millisecond.

    def organiser(self, scope: str):
        """A dependency: the calling organiser, who must hold `scope`."""
        async def dependency(credentials: Credentials) -> Principal:
            who = self.principal(credentials)
            if who.kind != ORGANISER:
                raise forbidden("not-an-organiser", "only an organiser may do this")
            if scope not in who.scopes:
                raise forbidden("missing-scope", f"the token lacks the {scope!r} scope")
            return who
        return dependency

    def service(self, scope: str):
        """A dependency: the calling service, which must hold `scope`."""
        async def dependency(credentials: Credentials) -> Principal:
            who = self.principal(credentials)
            if who.kind != SERVICE or scope not in who.scopes:
                raise forbidden("missing-scope", f"only a service holding {scope!r} may call this")
            return who
        return dependency


def require_jurisdiction(who: Principal, unit_id: str) -> None:
    """403 unless the organiser's unit is `unit_id` or above it."""
    if not who.may_act_in(unit_id):
        raise forbidden("outside-jurisdiction",
                        f"{unit_id} is outside your unit {who.unit}; you act only inside your own unit")
