"""The morning peak's one route, `POST /v1/dispatches/{dispatch_id}/submissions`, answered
without FastAPI's per-request machinery when the request is an ordinary one.

A booth's answer is thousands of requests a second at the peak, and FastAPI's routing (a dozen
routes tried in turn) and dependency solving (the bearer scheme, the caller, the body) took half of
the service's CPU per answer, four times the answer's own work. `AnswerLane` is a route put first in
the app's router: for that path it reads the body and makes the very checks the route's dependencies
make, with the same code (the bearer header as HTTPBearer reads it, `Authenticator.caller` for the
`reports:answer` organiser, `SubmissionCreate` on the body as JSON), then runs the route's own
function: on the event loop as far as it can go (`on_loop`, api.submit_on_loop), else in a thread as
FastAPI runs it. Whatever is not ordinary (another content type, a dispatch id not in canonical
form, a missing or refused token, a body that is not valid) is handed, body and all, to the app's
routes as if the lane were not there, so every refusal is the route's own problem (RFC 9457),
written by the same code. The route stays where it was, so the OpenAPI document, the request
metrics' route label and the body limits (middleware, outside both) are unchanged; exceptions from
the route's function reach the app's handlers either way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

from shared.auth.access import Authenticator
from shared.auth.tokens import ORGANISER, Principal

_PATH = re.compile(
    r"/v1/dispatches/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/submissions"
)
_PASSED = "reports.answer_lane.passed"  # set on a request the lane handed to the routes


class AnswerLane(BaseRoute):
    """`route` is the app's own route for the path (named in the request metrics); `answer(
    dispatch_id, body, who)` is its function, run in the thread pool as FastAPI runs it, where
    `on_loop` (the same arguments, awaited) answers None."""

    def __init__(
        self,
        route: BaseRoute,
        body_model: type[BaseModel],
        scope_needed: str,
        auth: Authenticator,
        answer: Callable[[uuid.UUID, Any, Principal], Response],
        on_loop: Callable[[uuid.UUID, Any, Principal], Awaitable[Response | None]] | None = None,
    ):
        self.route, self.body_model, self.scope_needed = route, body_model, scope_needed
        self.auth, self.answer, self.on_loop = auth, answer, on_loop

    def matches(self, scope) -> tuple[Match, dict]:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and _PASSED not in scope
            and _PATH.fullmatch(scope["path"])
        ):
            return Match.FULL, {"route": self.route}
        return Match.NONE, {}

    async def handle(self, scope, receive, send) -> None:
        body = await Request(scope, receive).body()
        ordinary = self._ordinary(scope, body)
        if ordinary is None:
            await _to_routes(scope, receive, send, body)
            return
        response = await self.on_loop(*ordinary) if self.on_loop else None
        if response is None:
            response = await run_in_threadpool(self.answer, *ordinary)
        await response(scope, receive, send)

    def _ordinary(self, scope, body: bytes) -> tuple[uuid.UUID, Any, Principal] | None:
        """(dispatch id, body, caller) as the route's dependencies would give them, or None
        where any of them would refuse or read the request otherwise."""
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return None
        scheme, token = get_authorization_scheme_param(headers.get("authorization"))
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            who = self.auth.caller(token, scope=self.scope_needed, kind=ORGANISER)[0]
            sent = self.body_model.model_validate(json.loads(body))
        except Exception:
            return None
        return uuid.UUID(_PATH.fullmatch(scope["path"])[1]), sent, who


async def _to_routes(scope, receive, send, body: bytes) -> None:
    """The request, its body already read, to the app's routes (the lane passed over)."""
    given = False

    async def replayed():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    scope[_PASSED] = True
    await scope["router"].app(scope, replayed, send)
