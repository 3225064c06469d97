"""The one way every FastAPI service is put together.

`create_app` gives each service the same plumbing: JSON logging, RFC 9457 problems,
request metrics by route, and `/healthz`, `/readyz`, `/metrics`. A service adds only its
own routers and its dependency checks.
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from shared.auth.http import Authenticator
from shared.collector import settle_after_startup
from shared.health import Check, readiness
from shared.limits import BodyLimits, BodyRules, bearer_check
from shared.logging import configure_logging, get_logger
from shared.problems import MEDIA_TYPE, install_problem_docs, install_problem_handlers, problems
from shared.settings import PlatformSettings

REQUESTS = Counter(
    "sangathan_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "sangathan_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

log = get_logger(__name__)


def create_app(
    *,
    service: str,
    settings: PlatformSettings,
    checks: dict[str, Check],
    routers: list[APIRouter] = (),
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    bodies: BodyRules = BodyRules(),
) -> FastAPI:
    configure_logging(service, settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            on_startup()
        settle_after_startup()
        log.info("started", fields={"environment": settings.environment})
        yield
        if on_shutdown:
            on_shutdown()

    # Metrics are Prometheus's (below) and nothing here sets up OpenTelemetry, so FastAPI's own
    # telemetry is off: left on, it looks for OpenTelemetry providers on every request (a few
    # per cent of a small request's CPU in the OTP profile) only to find none.
    off = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
    app = FastAPI(title=f"Sangathan {service}", lifespan=lifespan, telemetry=off)
    install_problem_handlers(app)
    install_problem_docs(app)
    _install_body_limits(app, settings, bodies)
    _install_request_metrics(app, service)
    app.include_router(_health_router(checks, settings.dependency_timeout_s))
    for router in routers:
        app.include_router(router)
    return app


def _health_router(checks: dict[str, Check], timeout_s: float) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", responses=problems(503, kinds={503: "a dependency is down"}))
    async def readyz(request: Request) -> Response:
        status, body = await readiness(checks, timeout_s, request.url.path)
        return JSONResponse(
            body, status_code=status, media_type=None if status == 200 else MEDIA_TYPE
        )

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return router


def _registry() -> CollectorRegistry:
    """This process's metrics; or, when several worker processes share a port, all of theirs
    summed from the files each writes (prometheus_client's multiprocess mode)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def _install_body_limits(app: FastAPI, settings: PlatformSettings, bodies: BodyRules) -> None:
    """Body caps and the token before the body (shared/limits.py); inside the request metrics,
    so its 401 and 413 answers are counted too."""
    authenticate = bearer_check(Authenticator(settings).principal) if bodies.token else None
    app.add_middleware(BodyLimits, rules=bodies, authenticate=authenticate)


def _install_request_metrics(app: FastAPI, service: str) -> None:
    app.add_middleware(_RequestMetrics, service=service)


class _RequestMetrics:
    """Counts and times each request by route, as plain ASGI: `@app.middleware("http")` runs every
    request through an extra task and memory streams, a tenth of a small request's CPU under load.

    The time is taken when the response starts, as before: a streamed answer (SSE, NDJSON) counts
    its time to the first byte, not how long the client stayed."""

    def __init__(self, app, service: str):
        self.app, self.service = app, service
        # Each (method, route, status)'s two children, found once: `labels` checks and locks on
        # every call, twice a request.
        self.children: dict[tuple[str, str, int], tuple[Callable, Callable]] = {}

    def _children(self, method: str, route: str, status: int) -> tuple[Callable, Callable]:
        found = self.children.get((method, route, status))
        if found is None:
            found = (
                REQUESTS.labels(self.service, method, route, status).inc,
                LATENCY.labels(self.service, method, route).observe,
            )
            # Bounded: routes are templates, methods and statuses few; never held unbounded.
            if len(self.children) < 10_000:
                self.children[(method, route, status)] = found
        return found

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, answered = time.perf_counter(), False

        def count(status: int) -> None:
            # The route template, not the raw path: ids in paths would explode label cardinality.
            route = getattr(scope.get("route"), "path", "unmatched")
            counted, timed = self._children(scope["method"], route, status)
            counted()
            timed(time.perf_counter() - started)

        async def measured_send(message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, measured_send)
        except Exception:
            # An unhandled error is answered 500 by Starlette's outermost middleware, outside this
            # one: count it here, or a failing route would never show in the error rate.
            if not answered:
                count(500)
            raise
