"""Liveness and readiness checks against the servers a service depends on.

`/healthz` says the process is alive (it never touches a dependency, so a slow Kafka does
not get a healthy pod restarted). `/readyz` pings every dependency with a short timeout and
answers 503 naming the one that is down, so traffic and rollouts wait for it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from prometheus_client import Gauge

from shared.kafka.security import client_config
from shared.problems import problem_body

Check = Callable[[], None]  # raises when the dependency is not usable

DEPENDENCY_UP = Gauge(
    "sangathan_dependency_up",
    "1 if the last readiness check of a dependency passed",
    ["dependency"],
    # With worker processes (OTP_WORKERS), the value last set by any of them, not one per pid.
    multiprocess_mode="mostrecent",
)


def kafka_check(bootstrap: str, timeout_s: float) -> Check:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_config(bootstrap, {"socket.timeout.ms": int(timeout_s * 1000)}))

    def check() -> None:
        metadata = admin.list_topics(timeout=timeout_s)
        if not metadata.brokers:
            raise RuntimeError("no broker in cluster metadata")

    return check


def redis_check(client) -> Check:
    """`client` is a redis.Redis created with socket timeouts."""
    return lambda: client.ping()


def mongo_check(client) -> Check:
    """`client` is a pymongo.MongoClient created with a short serverSelectionTimeoutMS."""
    return lambda: client.admin.command("ping")


async def run_checks(checks: dict[str, Check], timeout_s: float) -> tuple[bool, dict[str, str]]:
    """Run every check concurrently in threads; each gets `timeout_s`."""

    async def one(name: str, check: Check) -> tuple[str, str]:
        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.to_thread(check), timeout_s + 0.5)
            DEPENDENCY_UP.labels(name).set(1)
            return name, "ok"
        except Exception as exc:  # any failure means "not ready"; the reason goes to the caller
            DEPENDENCY_UP.labels(name).set(0)
            reason = type(exc).__name__ if isinstance(exc, asyncio.TimeoutError) else str(exc)
            return name, f"down: {reason[:200]} ({time.monotonic() - started:.1f}s)"

    results = dict(await asyncio.gather(*(one(n, c) for n, c in checks.items())))
    return all(v == "ok" for v in results.values()), results


async def readiness(checks: dict[str, Check], timeout_s: float, instance: str) -> tuple[int, dict]:
    """The /readyz answer, for FastAPI and Faust alike: 200, or 503 as a problem naming what is
    down."""
    ready, results = await run_checks(checks, timeout_s)
    if ready:
        return 200, {"status": "ready", "checks": results}
    down = ", ".join(name for name, r in results.items() if r != "ok")
    return 503, problem_body(
        503,
        "dependency-unavailable",
        "A dependency is unavailable",
        f"not ready: {down}",
        instance,
        checks=results,
    )
