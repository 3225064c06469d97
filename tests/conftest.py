"""Fixtures shared by every test layer.

Integration and e2e tests talk to the real servers that `make test` starts (or that
`make up` already runs). Each test gets its own randomly named database or topic so no
test depends on another's leftovers.
"""

import os

import pytest

# The services default to production; tests (and what they start) run as a developer's machine
# does unless a test says otherwise. `make test` says so too (deploy/local/stack.py).
os.environ.setdefault("SANGATHAN_ENV", "development")

from shared.settings import PlatformSettings
from testkit import random_suffix  # noqa: F401  (tests import it from here too)


@pytest.fixture(scope="session")
def settings() -> PlatformSettings:
    return PlatformSettings()


@pytest.fixture
def mongo_db(settings):
    """A fresh MongoDB database on the real server, dropped afterwards."""
    from pymongo import MongoClient

    client = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000)
    name = f"test_{random_suffix()}"
    try:
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="module")
def org_registry(settings):
    """The platform's own org registry (the demo data `make up` loads), read-only."""
    from pymongo import MongoClient

    from shared.orgtree.repository import OrgRegistry

    client = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000)
    try:
        yield OrgRegistry(client[settings.mongo_db])
    finally:
        client.close()


@pytest.fixture
def kafka_bootstrap(settings) -> str:
    return settings.kafka_bootstrap


@pytest.fixture(scope="session")
def organiser_token():
    """Mint a local organiser's bearer token: organiser_token("IN-HP-D03") -> headers dict."""
    from shared.auth.issuer import organiser_token as mint

    def headers(unit: str, sub: str = "user-test", **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(sub=sub, unit=unit, **kw)}"}

    return headers


@pytest.fixture
def admin(kafka_bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def scratch(admin):
    """Makes topics with random names (one partition unless asked); deletes them after the test."""
    from confluent_kafka.admin import NewTopic

    made: list[str] = []

    def make(partitions: int = 1) -> str:
        name = f"test.{random_suffix()}"
        admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=10)[name].result()
        made.append(name)
        return name

    yield make
    if made:
        for future in admin.delete_topics(made, operation_timeout=10).values():
            future.result()
