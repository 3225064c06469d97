"""Each process counts and times what it asks of MongoDB, by command and collection."""

from datetime import timedelta

from prometheus_client import REGISTRY
from pymongo import monitoring

from shared.mongo_metrics import CommandMetrics

SERVER = ("127.0.0.1", 27017)


def sample(name: str, command: str, collection: str) -> float:
    labels = {"command": command, "collection": collection}
    return REGISTRY.get_sample_value(name, labels) or 0.0


def asked(listener, request_id: int, command: dict, answer_micros: int, failed=False) -> None:
    name, took = next(iter(command)), timedelta(microseconds=answer_micros)
    listener.started(monitoring.CommandStartedEvent(command, "db", request_id, SERVER, None))
    answer = monitoring.CommandFailedEvent if failed else monitoring.CommandSucceededEvent
    listener._answered(answer(took, {"ok": int(not failed)}, name, request_id, SERVER, None))


def test_commands_are_counted_and_timed_by_command_and_collection():
    listener = CommandMetrics()
    before = {
        key: sample(f"sangathan_mongo_{metric}_total", *key)
        for key in [("find", "t_booths"), ("getMore", "t_booths"), ("update", "t_calls")]
        for metric in ("commands", "command_seconds")
    }
    finds = sample("sangathan_mongo_commands_total", "find", "t_booths")
    asked(listener, 1, {"find": "t_booths", "filter": {}}, 2_000)
    asked(listener, 2, {"getMore": 99, "collection": "t_booths"}, 1_000)
    asked(listener, 3, {"update": "t_calls", "updates": []}, 4_000, failed=True)
    asked(listener, 4, {"find": "t_booths", "filter": {}}, 3_000)
    assert sample("sangathan_mongo_commands_total", "find", "t_booths") == finds + 2
    seconds = sample("sangathan_mongo_command_seconds_total", "find", "t_booths")
    assert abs(seconds - before[("find", "t_booths")] - 0.005) < 1e-9
    assert sample("sangathan_mongo_commands_total", "getMore", "t_booths") >= 1
    assert sample("sangathan_mongo_commands_total", "update", "t_calls") >= 1, "failed ones too"


def test_an_answer_without_its_question_is_not_counted():
    listener = CommandMetrics()
    before = sample("sangathan_mongo_commands_total", "ping", "")
    took = timedelta(microseconds=10)
    listener.succeeded(monitoring.CommandSucceededEvent(took, {"ok": 1}, "ping", 77, SERVER, None))
    assert sample("sangathan_mongo_commands_total", "ping", "") == before
