"""RFC 9457 problem details for every HTTP API.

Routes raise `ProblemError`; `install_problem_handlers` turns it, request-validation errors
and unexpected failures into `application/problem+json` responses with a stable `type` URI,
so a client can branch on the kind of problem and a person can read `detail`.

A server a request needs being away (Redis down or reloading, MongoDB/FerretDB unreachable,
Kafka not taking a message) is not the service's fault: it answers 503 `dependency-unavailable`
with `Retry-After`, so clients, providers' webhooks and load balancers try again, instead of a 500.

The OpenAPI side lives here too, once: a route names the problems it answers with
`responses=problems(404, 409)`, and `describe_problems` adds what every route of a kind answers
(401/403 behind a bearer token, 422 with any input). To describe a new status, add it to
`PROBLEMS`.
"""

from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from shared.logging import get_logger

PROBLEM_BASE = "https://sangathan.example/problems/"
MEDIA_TYPE = "application/problem+json"

log = get_logger(__name__)

# Long enough for a restarted Redis or FerretDB to answer again; a Kafka broker takes longer,
# and the client simply gets another 503 meanwhile.
OUTAGE_RETRY_AFTER_S = 5

# What each problem status means to a client, whichever route answers it; `headers` are the
# ones a client should read with it.
PROBLEMS: dict[int, dict[str, Any]] = {
    400: {"description": "The request cannot be read (problem details)"},
    401: {
        "description": "No valid bearer token (problem details)",
        "headers": ["WWW-Authenticate"],
    },
    403: {
        "description": (
            "Not allowed: a missing scope, or outside the caller's jurisdiction (problem details)"
        )
    },
    404: {"description": "Not found (problem details)"},
    405: {
        "description": "Method not allowed; `Allow` lists those that are (problem details)",
        "headers": ["Allow"],
    },
    409: {"description": "Refused in the resource's current state (problem details)"},
    410: {"description": "Gone: closed for good (problem details)"},
    413: {"description": "The body is too large (problem details)"},
    422: {"description": "The request is not valid, or the change was refused (problem details)"},
    429: {
        "description": "Too many requests; retry after `Retry-After` seconds (problem details)",
        "headers": ["Retry-After"],
    },
    503: {
        "description": (
            "A dependency is unavailable; retry after `Retry-After` seconds (problem details)"
        ),
        "headers": ["Retry-After"],
    },
}
_HEADERS = {
    "WWW-Authenticate": "The authentication scheme to use",
    "Allow": "The methods this path answers",
    "Retry-After": "Seconds to wait before trying again",
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status"],
    "description": "RFC 9457 problem details; extensions such as `errors` may follow",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}
_AUTHENTICATED = (401, 403)  # every route behind a bearer token
_WITH_INPUT = (422,)  # every route that takes parameters or a body
_WITH_BODY = (400, 413)  # a body that cannot be parsed at all, or over its cap (shared/limits.py)


def problems(
    *statuses: int, kinds: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route that answers these problems, e.g.
    `responses=problems(404, 409, kinds={409: "wrong-appointment-state"})`."""
    return {status: _problem_response(status, (kinds or {}).get(status)) for status in statuses}


def _problem_response(status: int, kinds: str | None = None) -> dict[str, Any]:
    known = PROBLEMS[status]
    description = f"{known['description']}: {kinds}" if kinds else known["description"]
    response: dict[str, Any] = {
        "description": description,
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if known.get("headers"):
        response["headers"] = {
            h: {"description": _HEADERS[h], "schema": {"type": "string"}} for h in known["headers"]
        }
    return response


def describe_problems(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the problems every route of a kind answers, FastAPI's own
    `application/json` 422 replaced by the problem it really is, and the `Problem` schema."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            common = (
                (_AUTHENTICATED if operation.get("security") else ())
                + (
                    _WITH_INPUT
                    if operation.get("parameters") or operation.get("requestBody")
                    else ()
                )
                + (_WITH_BODY if operation.get("requestBody") else ())
            )
            for status in common:
                if _is_fastapi_default(responses.get(str(status))):
                    responses[str(status)] = _problem_response(status)
                described = responses.setdefault(str(status), _problem_response(status))
                # A route's own answer of this status (the simulator's provider-shaped refusals)
                # does not stop the platform answering it as a problem (a body it cannot parse).
                described.setdefault("content", {}).setdefault(
                    MEDIA_TYPE, _problem_response(status)["content"][MEDIA_TYPE]
                )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _is_fastapi_default(response: dict[str, Any] | None) -> bool:
    schema = ((response or {}).get("content") or {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")


def install_problem_docs(app: FastAPI) -> None:
    """Serve `describe_problems` of the app's document as its `/openapi.json`."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_problems(build())
        return app.openapi_schema

    app.openapi = openapi


class ProblemError(Exception):
    """An error a client can act on. `kind` becomes the problem's type URI."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str = "",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ):
        super().__init__(detail or title)
        self.headers = headers or {}
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extensions = extensions


def invalid_field(field: str, reason: str) -> ProblemError:
    """A 422 naming one field, shaped as a request-validation problem, for what a route checks
    itself (a query parameter that depends on another)."""
    return ProblemError(
        422,
        "validation-error",
        "The request is not valid",
        f"{field}: {reason}",
        errors=[{"field": field, "reason": reason}],
    )


def problem_body(
    status: int, kind: str, title: str, detail: str = "", instance: str = "", **extensions: Any
) -> dict[str, Any]:
    body = {"type": PROBLEM_BASE + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return body


def problem_response(
    status: int, kind: str, title: str, detail: str = "", instance: str = "", **extensions: Any
) -> JSONResponse:
    body = problem_body(status, kind, title, detail, instance, **extensions)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def _allowed(request: Request) -> str:
    """Every method some route answers on this path: Starlette's 405 names only the first route's,
    and a path often has several (GET, POST and DELETE of a session)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\0"})  # no method matches: path only
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError):
        response = problem_response(
            exc.status, exc.kind, exc.title, exc.detail, request.url.path, **exc.extensions
        )
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # Name each bad field and why; never echo the submitted value (it may be a phone).
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]}
            for e in exc.errors()
        ]
        return problem_response(
            422,
            "validation-error",
            "The request is not valid",
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        response = problem_response(
            exc.status_code, kind, str(exc.detail), instance=request.url.path
        )
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed(request)
        return response

    for error, dependency in outage_errors().items():
        app.add_exception_handler(error, _outage_handler(dependency))

    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, exc: ClientDisconnect):
        # A phone on a bad network dropping an upload is not our error: no 500, no stack trace.
        log.info("client left before its request was read", fields={"path": request.url.path})
        return problem_response(
            400,
            "client-disconnected",
            "The client left before its request arrived",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", fields={"path": request.url.path})
        return problem_response(
            500, "internal-error", "Internal server error", instance=request.url.path
        )


def outage_errors() -> dict[type[BaseException], str]:
    """The client errors that mean a server is away, by the dependency's name. Base classes, so
    subclasses are covered: redis's BusyLoadingError (a restarted Redis reloading its data) is a
    ConnectionError; pymongo's ServerSelectionTimeoutError, AutoReconnect and NetworkTimeout are
    ConnectionFailures."""
    import redis
    from confluent_kafka import KafkaException
    from pymongo.errors import ConnectionFailure

    from shared.kafka.producer import DeliveryError
    from shared.ratelimit import LimitsUnavailable

    return {
        redis.ConnectionError: "redis",
        redis.TimeoutError: "redis",
        LimitsUnavailable: "redis",
        ConnectionFailure: "mongodb",
        DeliveryError: "kafka",
        KafkaException: "kafka",
    }


def dependency_unavailable(dependency: str) -> ProblemError:
    """The one answer for a server that is away, whichever route meets it."""
    return ProblemError(
        503,
        "dependency-unavailable",
        "A dependency is unavailable",
        f"{dependency} is not answering; try again shortly.",
        headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)},
        dependency=dependency,
    )


def _outage_handler(dependency: str):
    async def outage(request: Request, exc: Exception):
        # The class only: a driver's message can name hosts, and never helps the caller.
        log.warning(
            "dependency unavailable",
            fields={
                "path": request.url.path,
                "dependency": dependency,
                "error_class": type(exc).__name__,
            },
        )
        problem = dependency_unavailable(dependency)
        response = problem_response(
            problem.status,
            problem.kind,
            problem.title,
            problem.detail,
            request.url.path,
            **problem.extensions,
        )
        response.headers.update(problem.headers)
        return response

    return outage
