"""A service's MongoDB client counts and times its commands, by collection, on the real server."""

import pytest
from prometheus_client import REGISTRY

from shared.clients import mongo_client
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration


def count(command: str, collection: str) -> float:
    labels = {"command": command, "collection": collection}
    return REGISTRY.get_sample_value("sangathan_mongo_commands_total", labels) or 0.0


def test_a_services_client_counts_its_commands_by_collection(settings):
    client = mongo_client(settings)
    name = f"test_metrics_{random_suffix()}"
    try:
        booths = client[name].booths
        booths.insert_one({"_id": "B1"})
        booths.find_one({"_id": "B1"})
        booths.find_one({"_id": "B2"})
        assert count("insert", "booths") >= 1
        assert count("find", "booths") >= 2
        seconds = {"command": "find", "collection": "booths"}
        assert REGISTRY.get_sample_value("sangathan_mongo_command_seconds_total", seconds) > 0
    finally:
        client.drop_database(name)
        client.close()
