"""Request bodies: a size cap on every route, and the bearer token checked before a byte is read.

An HTTP service reads a body only after its route is chosen, and FastAPI parses it before any
dependency runs, so without this a 20 MB body with no token was read and parsed before the 401,
and a 5 MB appointment was accepted. `BodyLimits` sits in front of every app (`create_app`):

- a request whose bearer token is missing or invalid is answered 401 before its body is read
  (routes reached without a token, such as a signed webhook, are listed as `open_paths`);
- a declared `Content-Length` over the route's cap is answered 413 at once, and a body without
  one is counted while it streams in and refused the moment it passes the cap, so nothing
  larger than the cap is ever held.

Caps: JSON bodies JSON_MAX_BYTES; larger ones only on routes that name their own (a provider's
webhook WEBHOOK_MAX_BYTES, a CSV import its own setting). The public Ingress carries the same
largest cap (deploy/k8s/base/ingress), so the edge refuses what the service would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from starlette.exceptions import HTTPException

from shared.problems import ProblemError, problem_response

JSON_MAX_BYTES = 64 * 1024
WEBHOOK_MAX_BYTES = 1024 * 1024
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class BodyRules:
    """A service's body rules. `larger`: (path regex, cap in bytes) for routes allowed more than
    `json_max_bytes`; `open_paths`: path regexes whose bodies need no bearer token; `token`:
    False for a service whose callers carry no bearer token at all (the provider simulator)."""

    json_max_bytes: int = JSON_MAX_BYTES
    larger: tuple[tuple[str, int], ...] = ()
    open_paths: tuple[str, ...] = ()
    token: bool = True

    def cap(self, path: str) -> int:
        return next(
            (size for pattern, size in self.larger if re.fullmatch(pattern, path)),
            self.json_max_bytes,
        )

    def needs_token(self, path: str) -> bool:
        return self.token and not any(re.fullmatch(pattern, path) for pattern in self.open_paths)


class _Refused(HTTPException):
    """Raised out of `receive` once the 413 is sent: FastAPI lets an HTTPException through as is."""

    def __init__(self):
        super().__init__(413)


class BodyLimits:
    """ASGI middleware enforcing `BodyRules`; `authenticate(header)` raises a 401 ProblemError."""

    def __init__(
        self, app, *, rules: BodyRules, authenticate: Callable[[str | None], object] | None
    ):
        self.app, self.rules, self.authenticate = app, rules, authenticate

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            return await self.app(scope, receive, send)
        path, headers = scope["path"], dict(scope["headers"])
        if self.authenticate and self.rules.needs_token(path):
            try:
                self.authenticate(_text(headers.get(b"authorization")))
            except ProblemError as refused:
                return await _answer(scope, send, refused)
        cap = self.rules.cap(path)
        declared = _text(headers.get(b"content-length"))
        if declared and declared.isdigit() and int(declared) > cap:
            return await _answer(scope, send, too_large(cap))
        await _Capped(self.app, cap)(scope, receive, send)


class _Capped:
    """One request whose body is counted as it arrives."""

    def __init__(self, app, cap: int):
        self.app, self.cap, self.size, self.answered = app, cap, 0, False

    async def __call__(self, scope, receive, send) -> None:
        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request":
                self.size += len(message.get("body", b""))
                if self.size > self.cap and not self.answered:
                    self.answered = True
                    await _answer(scope, send, too_large(self.cap))
                    raise _Refused()
            return message

        async def guarded_send(message) -> None:
            if not self.answered:  # the app's own answer to our refusal is dropped: 413 went out
                await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except _Refused:
            pass


def too_large(cap: int) -> ProblemError:
    return ProblemError(
        413,
        "body-too-large",
        "The request body is too large",
        f"this route accepts at most {cap} bytes",
    )


def bearer_check(principal: Callable) -> Callable[[str | None], object]:
    """`authenticate` from an Authenticator's `principal` (401 ProblemError for a bad token)."""
    from shared.auth.access import bearer_token

    def check(header: str | None):
        return principal(bearer_token(header))

    return check


async def _answer(scope, send, problem: ProblemError) -> None:
    response = problem_response(
        problem.status, problem.kind, problem.title, problem.detail, scope["path"]
    )
    response.headers.update(problem.headers)
    # The unread body is left to the server, which closes the connection rather than read it.
    response.headers["Connection"] = "close"

    async def no_body():
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)


def _text(raw: bytes | None) -> str | None:
    return raw.decode("latin-1") if raw is not None else None
