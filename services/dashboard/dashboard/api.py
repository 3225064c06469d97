"""HTTP entrypoint of the HQ dashboard: the page, a session cookie, coverage, field reports and live
changes.

EventSource cannot send an Authorization header, so the page signs in once with an organiser's
bearer token. The dashboard checks it and does not keep it: it opens a session in Redis (an
opaque id in an HttpOnly, SameSite=Strict cookie, `__Host-` and Secure over HTTPS) that names the
organiser, their unit and only `coverage:read`, and ends no later than the token. Numbers come
from analytics, asked with a read-only token exchanged for the viewer (shared/auth/exchange.py).
API clients may send their own bearer token for the dashboard instead of the cookie.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from dashboard import domain
from dashboard.adapters.analytics import AnalyticsUnavailable
from dashboard.bootstrap import Adapters, bootstrap
from dashboard.meeting_watch import MeetingWatch
from dashboard.settings import DashboardSettings
from shared.auth import exchange
from shared.auth.http import Authenticator, Credentials, forbidden, token_of, unauthenticated
from shared.auth.tokens import ORGANISER, Principal
from shared.http import create_app
from shared.limits import BodyRules
from shared.logging import get_logger
from shared.orgtree.api import UNIT_ID_PATTERN
from shared.problems import ProblemError, problems

SCOPE = "coverage:read"
PERIOD_PATTERN = r"^[0-9]{4}-([0-9]{2}-[0-9]{2}|W[0-9]{2}-[12])$"  # docs/reports.md, period keys
STATIC = Path(__file__).with_name("static")
KEEP_ALIVE_S = 15.0
# The page, its script and its styles come from here only; nothing inline, nothing third-party.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

log = get_logger(__name__)

UnitQuery = Annotated[str | None, Query(pattern=UNIT_ID_PATTERN)]
FormQuery = Annotated[uuid.UUID, Query(description="A published report form's id")]
PeriodQuery = Annotated[
    str, Query(pattern=PERIOD_PATTERN, description="2024-11-23, or 2024-W47-1 for twice a week")
]


@dataclass(frozen=True)
class Viewer:
    who: Principal
    expires: float  # epoch seconds: the session's (or the bearer token's) end
    session: str | None = None  # the session id, for a signed-in browser
    bearer: str | None = None  # an API client's own token, for this request only; never stored

    @property
    def unit(self) -> str:
        return self.who.unit


def _organiser(auth: Authenticator, token: str | None) -> tuple[Principal, float]:
    """The organiser a token for the dashboard names and when it expires; 401/403 problems
    otherwise."""
    return auth.caller(token, scope=SCOPE, kind=ORGANISER)


def _require_view(viewer: Viewer, unit_id: str) -> None:
    if not domain.may_view(viewer.unit, unit_id):
        raise forbidden(
            "outside-jurisdiction",
            f"{unit_id} is outside your unit {viewer.unit}; you see only your own unit's subtree",
        )


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(
        min_length=20, max_length=8000, description="An organiser's bearer token (a JWT)"
    )


class SessionRead(BaseModel):
    unit: str
    role: str | None = None


def dashboard_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    settings = adapters.settings
    cookie = domain.session_cookie(settings.secure_cookie)
    router = APIRouter()

    def signed_in(request: Request, credentials: Credentials) -> Viewer:
        """The signed-in organiser, from the session cookie (or a bearer header, for API
        clients)."""
        if credentials is not None:
            who, expires = _organiser(auth, token_of(credentials))
            return Viewer(who, expires, bearer=token_of(credentials))
        session_id = request.cookies.get(cookie)
        found = adapters.sessions.find(session_id) if session_id else None
        if found is None:
            raise unauthenticated("sign in with an organiser's bearer token")
        return Viewer(*found, session=session_id)

    SignedIn = Annotated[Viewer, Depends(signed_in)]

    @router.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @router.post("/api/session", response_model=SessionRead, responses=problems(401, 403, 503))
    def sign_in(body: SessionCreate, response: Response):
        """Check an organiser's token, then forget it: open a session for the page and its live
        stream."""
        who, token_expires = _organiser(auth, body.token)
        now = time.time()
        expires = domain.session_ends(token_expires, now, settings.session_hours * 3600)
        session_id = adapters.sessions.open(who, expires, who.scopes & exchange.SCOPES)
        response.set_cookie(
            cookie,
            session_id,
            max_age=max(1, int(expires - now)),
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookie,
            path="/",
        )
        log.info("signed in", fields={"unit": who.unit, "subject": who.subject})
        return SessionRead(unit=who.unit, role=who.role)

    @router.get("/api/session", response_model=SessionRead)
    def session(viewer: SignedIn):
        return SessionRead(unit=viewer.unit, role=viewer.who.role)

    @router.delete("/api/session", status_code=204, responses=problems(503))
    def sign_out(request: Request, response: Response):
        """End the session here, for every tab and stream using it, and drop the cookie."""
        session_id = request.cookies.get(cookie)
        if session_id:
            adapters.sessions.close(session_id)
        response.delete_cookie(
            cookie, httponly=True, samesite="strict", secure=settings.secure_cookie, path="/"
        )

    @router.get("/api/coverage/{unit_id}", responses=problems(404, 503))
    async def coverage(unit_id: str, viewer: SignedIn):
        """The unit with its children: booths total, with a verified president, complete,
        deadline."""
        _require_view(viewer, unit_id)
        return await _analytics(adapters, f"/coverage/{unit_id}", viewer)

    @router.get("/api/coverage/{unit_id}/directives", responses=problems(404, 503))
    async def directives(
        unit_id: str, viewer: SignedIn, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ):
        """The latest directives issued in or aimed into the unit, with their delivered/acknowledged
        shares."""
        _require_view(viewer, unit_id)
        return await _analytics(
            adapters, f"/coverage/{unit_id}/directives", viewer, {"limit": limit}
        )

    @router.get("/api/coverage/{unit_id}/booths-without-president", responses=problems(404, 503))
    async def booths_without_president(
        unit_id: str, viewer: SignedIn, limit: Annotated[int, Query(ge=1, le=5000)] = 500
    ):
        """Booths of a mandal-sized unit still without a verified president."""
        _require_view(viewer, unit_id)
        return await _analytics(
            adapters, f"/coverage/{unit_id}/booths-without-president", viewer, {"limit": limit}
        )

    @router.get("/api/coverage/{unit_id}/meetings", responses=problems(404, 503))
    async def meetings(
        unit_id: str, viewer: SignedIn, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ):
        """The latest meetings held in or aimed into the unit, with invited, joined and
        confirmed."""
        _require_view(viewer, unit_id)
        return await _analytics(adapters, f"/coverage/{unit_id}/meetings", viewer, {"limit": limit})

    @router.get(
        "/api/meetings/{meeting_id}/reach",
        responses=problems(
            404, 410, 503, kinds={410: "meeting-attendance-dropped, with its final totals"}
        ),
    )
    async def meeting_reach(meeting_id: uuid.UUID, viewer: SignedIn, unit: UnitQuery = None):
        """A meeting's invited, rang, answered, joined, confirmed and seconds under `unit` (the
        organiser's unit if left out), and per unit one level below it."""
        if unit is not None:
            _require_view(viewer, unit)
        return await _reach(adapters, meeting_id, unit, viewer)

    @router.get("/api/reports/forms")
    def report_forms(viewer: SignedIn):
        """The published report forms the organiser may read answers to (HQ's, their state's,
        and for HQ every state's): ids, kinds, titles, questions' ids, types and options."""
        return {"forms": adapters.forms.readable_by(viewer.unit)}

    @router.get("/api/reports/{unit_id}", responses=problems(404, 422, 503))
    async def unit_report(
        unit_id: str, viewer: SignedIn, form_id: FormQuery, period_key: PeriodQuery
    ):
        """A unit's report of a form for a period: expected, submitted, late, accepted, rejected,
        option counts, sums, silent booths (mandal or sector), and per unit one level down its
        numbers and its own sums."""
        _require_view(viewer, unit_id)
        params = {"form_id": str(form_id), "period_key": period_key}
        # Analytics' rows carry each unit's own sums: one call, whatever the number of units.
        return await _analytics(adapters, f"/reports/{unit_id}", viewer, params)

    @router.get("/api/reports/{unit_id}/trend", responses=problems(404, 422, 503))
    async def unit_trend(
        unit_id: str,
        viewer: SignedIn,
        form_id: FormQuery,
        days: Annotated[int, Query(ge=1, le=92)] = 14,
    ):
        """The unit's latest periods of a form, oldest first: expected, submitted and sums."""
        _require_view(viewer, unit_id)
        params = {"form_id": str(form_id), "days": days}
        return await _analytics(adapters, f"/reports/{unit_id}/trend", viewer, params)

    @router.get(
        "/api/live/{unit_id}",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **problems(503)},
    )
    async def live(
        unit_id: str, viewer: SignedIn, request: Request, meeting: uuid.UUID | None = None
    ):
        """Server-sent events: `coverage` for the unit and each child as its numbers change;
        with `meeting`, also `reach`: that meeting's reach under the unit whenever it changes,
        until the meeting has ended."""
        _require_view(viewer, unit_id)
        watch = None
        if meeting is not None:
            await _reach(adapters, meeting, unit_id, viewer)  # refused or unknown: a problem now
            watch = MeetingWatch(
                lambda: _reach(adapters, meeting, unit_id, viewer), settings.reach_interval_s
            )
        listener = adapters.live.listen(unit_id, depth=domain.LIVE_DEPTH)
        return StreamingResponse(
            _changes(adapters, auth, listener, unit_id, viewer, request, watch),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _changes(
    adapters: Adapters,
    auth: Authenticator,
    listener,
    unit_id: str,
    viewer: Viewer,
    request: Request,
    watch: MeetingWatch | None = None,
):
    try:
        yield "retry: 3000\n\n"
        yield domain.sse_frame("ready", {"unit_id": unit_id})
        recheck_at = time.monotonic() + KEEP_ALIVE_S
        while not await request.is_disconnected():
            if watch is not None and (reach := await watch.change()) is not None:
                yield domain.sse_frame("reach", reach)
            left = (
                viewer.expires - time.time()
            )  # a busy stream must end on time too, not only a quiet one
            if time.monotonic() >= recheck_at:
                recheck_at = time.monotonic() + KEEP_ALIVE_S
                left = left if await asyncio.to_thread(_still_valid, adapters, auth, viewer) else 0
            if left <= 0:
                yield domain.sse_frame("signed-out", {})
                return
            try:
                wait_s = min(KEEP_ALIVE_S, left, watch.wait_s() if watch else KEEP_ALIVE_S)
                item = await asyncio.wait_for(listener.queue.get(), timeout=wait_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield domain.sse_frame("coverage", domain.coverage_change(item), item["id"])
    finally:
        adapters.live.forget(listener)


def _still_valid(adapters: Adapters, auth: Authenticator, viewer: Viewer) -> bool:
    """A stream outliving its session (signed out, ended) or its token (key rotated) ends; the
    page asks to sign in again."""
    if viewer.session is not None:
        try:
            return adapters.sessions.find(viewer.session) is not None
        except redis.RedisError:
            return True  # cannot tell while Redis is away; the session's end still ends the stream
    try:
        _organiser(auth, viewer.bearer)
        return True
    except ProblemError:
        return False


async def _reach(
    adapters: Adapters, meeting_id: uuid.UUID, unit: str | None, viewer: Viewer
) -> Any:
    params = {"unit": unit} if unit is not None else None
    return await _analytics(adapters, f"/meetings/{meeting_id}/reach", viewer, params)


async def _analytics(
    adapters: Adapters, path: str, viewer: Viewer, params: dict[str, Any] | None = None
) -> Any:
    token = adapters.exchanger.narrowed(viewer.who, expires=viewer.expires)
    try:
        return await adapters.analytics.get(path, token, params)
    except AnalyticsUnavailable as exc:
        raise ProblemError(
            503,
            "dependency-unavailable",
            "A dependency is unavailable",
            f"the coverage service did not answer ({exc})",
            headers={"Retry-After": "2"},
        ) from None


async def _security_headers(request: Request, call_next):
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_dashboard_app(adapters: Adapters) -> FastAPI:
    settings = adapters.settings
    app = create_app(
        service="dashboard",
        settings=settings,
        checks=adapters.checks,
        routers=[dashboard_router(adapters, Authenticator(settings))],
        on_startup=adapters.start,
        on_shutdown=adapters.stop,
        bodies=BodyRules(open_paths=(r"/api/session",)),
    )  # signing in brings the token in its body
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(_security_headers)
    return app


app = create_dashboard_app(bootstrap(DashboardSettings()))
