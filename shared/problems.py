"""RFC 9457 problem details for every HTTP API.

Routes raise `ProblemError`; `install_problem_handlers` turns it, request-validation errors
and unexpected failures into `application/problem+json` responses with a stable `type` URI,
so a client can branch on the kind of problem and a person can read `detail`.

A server a request needs being away (Redis down or reloading, MongoDB/FerretDB unreachable,
Kafka not taking a message) is not the service's fault: it answers 503 `dependency-unavailable`
with `Retry-After`, so clients, providers' webhooks and load balancers try again, instead of a 500.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import get_logger

PROBLEM_BASE = "https://sangathan.example/problems/"
MEDIA_TYPE = "application/problem+json"

log = get_logger(__name__)

# Long enough for a restarted Redis or FerretDB to answer again; a Kafka broker takes longer,
# and the client simply gets another 503 meanwhile.
OUTAGE_RETRY_AFTER_S = 5


class ProblemError(Exception):
    """An error a client can act on. `kind` becomes the problem's type URI."""

    def __init__(self, status: int, kind: str, title: str, detail: str = "",
                 headers: dict[str, str] | None = None, **extensions: Any):
        super().__init__(detail or title)
        self.headers = headers or {}
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.extensions = extensions


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
            422, "validation-error", "The request is not valid",
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
            request.url.path, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(exc.status_code, kind, str(exc.detail), instance=request.url.path)

    for error, dependency in outage_errors().items():
        app.add_exception_handler(error, _outage_handler(dependency))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", fields={"path": request.url.path})
        return problem_response(500, "internal-error", "Internal server error", instance=request.url.path)


def outage_errors() -> dict[type[BaseException], str]:
    """The client errors that mean a server is away, by the dependency's name. Base classes, so
    subclasses are covered: redis's BusyLoadingError (a restarted Redis reloading its data) is a
    ConnectionError; pymongo's ServerSelectionTimeoutError, AutoReconnect and NetworkTimeout are
    ConnectionFailures."""
    import redis
    from confluent_kafka import KafkaException
    from pymongo.errors import ConnectionFailure

    from shared.kafka.producer import DeliveryError

    return {redis.ConnectionError: "redis", redis.TimeoutError: "redis", ConnectionFailure: "mongodb",
            DeliveryError: "kafka", KafkaException: "kafka"}


def _outage_handler(dependency: str):
    async def outage(request: Request, exc: Exception):
        # The class only: a driver's message can name hosts, and never helps the caller.
        log.warning("dependency unavailable", fields={"path": request.url.path, "dependency": dependency,
                                                      "error_class": type(exc).__name__})
        response = problem_response(
            503, "dependency-unavailable", "A dependency is unavailable",
            f"{dependency} is not answering; try again shortly.", request.url.path, dependency=dependency,
        )
        response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_S)
        return response

    return outage
