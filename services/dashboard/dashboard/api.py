"""HTTP entrypoint of the HQ dashboard: the page, a session cookie, coverage and live changes.

EventSource cannot send an Authorization header, so the page signs in once with an organiser's
bearer token, which the dashboard checks and keeps in an HttpOnly, SameSite=Strict cookie; every
request re-checks it. The numbers come from analytics, asked with that same token.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from dashboard import domain
from dashboard.adapters.analytics import AnalyticsUnavailable
from dashboard.bootstrap import bootstrap
from dashboard.settings import DashboardSettings
from shared.auth.http import Authenticator, Credentials, forbidden, unauthenticated
from shared.auth.tokens import ORGANISER, InvalidTokenError, Principal
from shared.http import create_app
from shared.limits import BodyRules
from shared.logging import get_logger
from shared.problems import ProblemError, problems

SCOPE = "coverage:read"
STATIC = Path(__file__).with_name("static")
KEEP_ALIVE_S = 15.0
# The page, its script and its styles come from here only; nothing inline, nothing third-party.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

settings = DashboardSettings()
adapters = bootstrap(settings)
auth = Authenticator(settings)
log = get_logger(__name__)


@dataclass(frozen=True)
class Viewer:
    who: Principal
    token: str  # passed on to analytics; never logged, never sent back to the browser
    expires: float  # epoch seconds: the token's `exp`

    @property
    def unit(self) -> str:
        return self.who.unit


def _check(token: str) -> Principal:
    return _checked(token)[0]


def _checked(token: str) -> tuple[Principal, float]:
    """The organiser a token names and when it expires; 401/403 problems otherwise."""
    who, expires = auth.principal_until(HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
    if who.kind != ORGANISER:
        raise forbidden("not-an-organiser", "only an organiser may sign in to the dashboard")
    if SCOPE not in who.scopes:
        raise forbidden("missing-scope", f"the token lacks the {SCOPE!r} scope")
    return who, expires


def _viewer(request: Request, credentials: Credentials) -> Viewer:
    """The signed-in organiser, from the session cookie (or a bearer header, for API clients)."""
    token = credentials.credentials if credentials else request.cookies.get(domain.SESSION_COOKIE)
    if not token:
        raise unauthenticated("sign in with an organiser's bearer token")
    who, expires = _checked(token)
    return Viewer(who, token, expires)


SignedIn = Annotated[Viewer, Depends(_viewer)]


def _require_view(viewer: Viewer, unit_id: str) -> None:
    if not domain.may_view(viewer.unit, unit_id):
        raise forbidden("outside-jurisdiction",
                        f"{unit_id} is outside your unit {viewer.unit}; you see only your own unit's subtree")


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=20, max_length=8000, description="An organiser's bearer token (a JWT)")


class SessionRead(BaseModel):
    unit: str
    role: str | None = None


router = APIRouter()


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.post("/api/session", response_model=SessionRead, responses=problems(401, 403))
def sign_in(body: SessionCreate, response: Response):
    """Check an organiser's token and keep it in an HttpOnly cookie for the page and its live stream."""
    who = _check(body.token)
    response.set_cookie(domain.SESSION_COOKIE, body.token, max_age=int(timedelta(hours=settings.session_hours).total_seconds()),
                        httponly=True, samesite="strict", secure=settings.secure_cookie, path="/")
    log.info("signed in", fields={"unit": who.unit, "subject": who.subject})
    return SessionRead(unit=who.unit, role=who.role)


@router.get("/api/session", response_model=SessionRead)
def session(viewer: SignedIn):
    return SessionRead(unit=viewer.unit, role=viewer.who.role)


@router.delete("/api/session", status_code=204)
def sign_out(response: Response):
    response.delete_cookie(domain.SESSION_COOKIE, httponly=True, samesite="strict",
                           secure=settings.secure_cookie, path="/")


@router.get("/api/coverage/{unit_id}", responses=problems(404, 503))
async def coverage(unit_id: str, viewer: SignedIn):
    """The unit with its children: booths total, with a verified president, complete, deadline."""
    _require_view(viewer, unit_id)
    return await _analytics(f"/coverage/{unit_id}", viewer)


@router.get("/api/coverage/{unit_id}/directives", responses=problems(404, 503))
async def directives(unit_id: str, viewer: SignedIn, limit: Annotated[int, Query(ge=1, le=100)] = 10):
    """The latest directives issued in or aimed into the unit, with their delivered/acknowledged shares."""
    _require_view(viewer, unit_id)
    return await _analytics(f"/coverage/{unit_id}/directives", viewer, {"limit": limit})


@router.get("/api/coverage/{unit_id}/booths-without-president", responses=problems(404, 503))
async def booths_without_president(unit_id: str, viewer: SignedIn,
                                   limit: Annotated[int, Query(ge=1, le=5000)] = 500):
    """Booths of a mandal-sized unit still without a verified president."""
    _require_view(viewer, unit_id)
    return await _analytics(f"/coverage/{unit_id}/booths-without-president", viewer, {"limit": limit})


@router.get("/api/live/{unit_id}", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}, **problems(503)})
async def live(unit_id: str, viewer: SignedIn, request: Request):
    """Server-sent events: `coverage` for the unit and each child as its numbers change."""
    _require_view(viewer, unit_id)
    listener = adapters.live.listen(unit_id, depth=domain.LIVE_DEPTH)

    async def events():
        try:
            yield "retry: 3000\n\n"
            yield domain.sse_frame("ready", {"unit_id": unit_id})
            while not await request.is_disconnected():
                left = viewer.expires - time.time()  # a busy stream must end on time too, not only a quiet one
                if left <= 0:
                    yield domain.sse_frame("signed-out", {})
                    return
                try:
                    item = await asyncio.wait_for(listener.queue.get(), timeout=min(KEEP_ALIVE_S, left))
                except TimeoutError:
                    if not _still_valid(viewer.token):
                        yield domain.sse_frame("signed-out", {})
                        return
                    yield ": keep-alive\n\n"
                    continue
                yield domain.sse_frame("coverage", domain.coverage_change(item), item["id"])
        finally:
            adapters.live.forget(listener)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _still_valid(token: str) -> bool:
    """A stream outliving its token (expired, key rotated) ends; the page asks to sign in again."""
    try:
        _check(token)
        return True
    except (ProblemError, InvalidTokenError):
        return False


async def _analytics(path: str, viewer: Viewer, params: dict[str, Any] | None = None) -> Any:
    try:
        return await adapters.analytics.get(path, viewer.token, params)
    except AnalyticsUnavailable as exc:
        raise ProblemError(503, "dependency-unavailable", "A dependency is unavailable",
                           f"the coverage service did not answer ({exc})", headers={"Retry-After": "2"}) from None


app = create_app(service="dashboard", settings=settings, checks=adapters.checks, routers=[router],
                 on_startup=adapters.start, on_shutdown=adapters.stop,
                 bodies=BodyRules(open_paths=(r"/api/session",)))  # signing in brings the token in its body
app.mount("/static", StaticFiles(directory=STATIC), name="static")


@app.middleware("http")
async def security_headers(request: Request, call_next):
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
