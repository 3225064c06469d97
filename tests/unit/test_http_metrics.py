"""The request metrics every service's app carries: counted and timed by route template."""

import uuid

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from shared.http import create_app
from shared.settings import PlatformSettings


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_requests_are_counted_by_route_template_and_status_and_timed_once_each():
    service = f"test-{uuid.uuid4().hex[:6]}"
    router = APIRouter()

    @router.get("/things/{thing_id}")
    def thing(thing_id: str) -> dict:
        return {"id": thing_id}

    @router.get("/stream")
    def stream() -> StreamingResponse:
        def body():
            yield b"first\n"
            yield b"last\n"

        return StreamingResponse(body())

    http = TestClient(
        create_app(service=service, settings=PlatformSettings(), checks={}, routers=[router])
    )
    assert [
        http.get(path).status_code for path in ("/things/a", "/things/b", "/nowhere", "/stream")
    ] == [200, 200, 404, 200]

    total = "sangathan_http_requests_total"
    assert (
        sample(total, service=service, method="GET", route="/things/{thing_id}", status="200") == 2
    )
    assert sample(total, service=service, method="GET", route="unmatched", status="404") == 1
    seconds = dict(service=service, method="GET", route="/stream")
    assert sample("sangathan_http_request_duration_seconds_count", **seconds) == 1, (
        "a stream is timed once"
    )


def test_an_unhandled_error_is_counted_as_a_500_and_a_dependency_outage_as_a_503():
    import redis

    service = f"test-{uuid.uuid4().hex[:6]}"
    router = APIRouter()

    @router.get("/broken")
    def broken() -> dict:
        raise RuntimeError("a bug")

    @router.get("/needs-redis")
    def needs_redis() -> dict:
        raise redis.ConnectionError("Connection refused")

    http = TestClient(
        create_app(service=service, settings=PlatformSettings(), checks={}, routers=[router]),
        raise_server_exceptions=False,
    )
    assert [http.get(path).status_code for path in ("/broken", "/broken", "/needs-redis")] == [
        500,
        500,
        503,
    ]

    total = "sangathan_http_requests_total"
    assert sample(total, service=service, method="GET", route="/broken", status="500") == 2
    assert sample(total, service=service, method="GET", route="/needs-redis", status="503") == 1
    assert (
        sample(
            "sangathan_http_request_duration_seconds_count",
            service=service,
            method="GET",
            route="/broken",
        )
        == 2
    )
