"""FastAPI side of authentication: the one check (`shared.auth.access`) as route dependencies."""

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth import access
from shared.auth.access import forbidden, require_jurisdiction, unauthenticated  # noqa: F401 (re-exported)
from shared.auth.tokens import ORGANISER, SERVICE, Principal

_bearer = HTTPBearer(
    auto_error=False, description="An OAuth2 bearer JWT from the organisation's issuer"
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def token_of(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials else None


class Authenticator(access.Authenticator):
    """`access.Authenticator` with its check as FastAPI dependencies.

    They are `async def` although they do not wait for anything: FastAPI runs a plain `def`
    dependency in its thread pool, one more thread hop on every request (about a tenth of an OTP
    verification's CPU with the endpoint's own hop); checking a remembered token is quicker than
    the hop, and a full EdDSA check still well under a millisecond."""

    def organiser(self, scope: str):
        """A dependency: the calling organiser, who must hold `scope`."""

        async def dependency(credentials: Credentials) -> Principal:
            return self.caller(token_of(credentials), scope=scope, kind=ORGANISER)[0]

        return dependency

    def service(self, scope: str):
        """A dependency: the calling service, which must hold `scope`."""

        async def dependency(credentials: Credentials) -> Principal:
            return self.caller(token_of(credentials), scope=scope, kind=SERVICE)[0]

        return dependency
