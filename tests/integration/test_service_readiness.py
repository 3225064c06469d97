"""Each service is ready only when the servers it depends on answer, and says which one
is down when it is not."""

import httpx
import pytest

from testkit.processes import closed_port, start_redis, start_service
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

# service -> the dependencies its /readyz must check
DEPENDENCIES = {
    "appointments": ["mongodb", "kafka"],
    "otp": ["redis", "kafka"],
    "notifier": ["mongodb", "redis", "kafka"],
    "analytics": ["mongodb"],  # the Faust worker cannot start at all without Kafka
    "reports": ["mongodb", "kafka"],
}
BROKEN = {
    "mongodb": lambda: {"MONGO_URL": f"mongodb://127.0.0.1:{closed_port()}/"},
    "redis": lambda: {"REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"},
    "kafka": lambda: {"KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"},
}
FAST = {"DEPENDENCY_TIMEOUT_S": "1"}


def isolated(service: str) -> dict[str, str]:
    """Consumer groups of the test's own, so the platform's running services keep their
    partitions."""
    suffix = random_suffix()
    return {
        "appointments": {"APPOINTMENTS_CONSUMER_GROUP": f"scratch-readiness-{suffix}"},
        "analytics": {"ANALYTICS_APP_ID": f"scratch-readiness-{suffix}"},
    }.get(service, {})


@pytest.mark.parametrize(
    "service,dependency",
    [(s, d) for s, deps in DEPENDENCIES.items() for d in deps],
)
def test_readyz_is_503_naming_the_dependency_that_is_down(service, dependency, tmp_path):
    process, base = start_service(
        service, {**FAST, **isolated(service), **BROKEN[dependency]()}, tmp_path
    )
    try:
        assert httpx.get(base + "/healthz").status_code == 200, (
            "liveness must not depend on servers"
        )
        response = httpx.get(base + "/readyz", timeout=10)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        checks = response.json()["checks"]
        assert checks[dependency].startswith("down")
        assert all(v == "ok" for k, v in checks.items() if k != dependency)
    finally:
        process.stop()


@pytest.mark.parametrize("service", list(DEPENDENCIES))
def test_readyz_is_200_with_every_dependency_up(service, tmp_path):
    process, base = start_service(service, {**FAST, **isolated(service)}, tmp_path)
    try:
        response = httpx.get(base + "/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert set(response.json()["checks"]) >= set(DEPENDENCIES[service])
        metrics = httpx.get(base + "/metrics").text
        assert "sangathan_dependency_up" in metrics
    finally:
        process.stop()


def test_readyz_turns_503_when_redis_dies_under_a_running_service(tmp_path):
    redis_process, redis_url = start_redis(tmp_path)
    service, base = start_service("otp", {**FAST, "REDIS_URL": redis_url}, tmp_path)
    try:
        assert httpx.get(base + "/readyz", timeout=10).status_code == 200
        redis_process.stop()
        response = httpx.get(base + "/readyz", timeout=10)
        assert response.status_code == 503
        assert response.json()["checks"]["redis"].startswith("down")
    finally:
        service.stop()
        redis_process.stop()
