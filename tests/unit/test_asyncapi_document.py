"""shared/events/asyncapi.yaml must agree with the topic registry and the schema files."""

from importlib import resources

import pytest
import yaml

from shared import topics
from shared.events import asyncapi, types
from shared.events.contracts import load_schema

DOCUMENT_FILE = resources.files("shared.events") / "asyncapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(DOCUMENT_FILE.read_text(encoding="utf-8"))


def _resolve(document: dict, ref: str) -> dict:
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_committed_document_is_what_the_generator_writes():
    assert DOCUMENT_FILE.read_text(encoding="utf-8") == asyncapi.render(), (
        "regenerate: .venv/bin/python -m shared.events.asyncapi > shared/events/asyncapi.yaml"
    )


def test_it_is_asyncapi_3(document):
    assert document["asyncapi"].startswith("3.")


def test_every_registry_topic_is_a_channel_carrying_exactly_its_event_types(document):
    channels = {c["address"]: c for c in document["channels"].values()}
    assert set(channels) == {t.name for t in topics.TOPICS}
    for topic in topics.TOPICS:
        channel = channels[topic.name]
        carried = {
            _resolve(document, m["$ref"])
            .get("headers", {})
            .get("properties", {})
            .get("ce_type", {})
            .get("const")
            for m in channel["messages"].values()
        }
        assert carried == (set(topic.event_types) or {None}), topic.name
        assert channel["bindings"]["kafka"]["partitions"] == topic.partitions


def test_task_topics_carry_the_delivery_task_and_only_the_dead_letter_topic_carries_dead_letters(
    document,
):
    by_address = {c["address"]: set(c["messages"]) for c in document["channels"].values()}
    for topic in topics.TOPICS:
        expected = {topics.TASKS: {"delivery-task"}, topics.DEAD_LETTERS: {"dead-letter"}}.get(
            topic.carries
        )
        assert by_address[topic.name] == (
            expected or {asyncapi.message_id(t) for t in topic.event_types}
        ), topic.name


def test_the_delivery_task_message_lists_exactly_the_notifiers_task_fields(document):
    from dataclasses import fields

    from notifier.domain.tasks import Task

    payload = document["components"]["messages"]["delivery-task"]["payload"]
    assert set(payload["properties"]) == {f.name for f in fields(Task)}
    assert set(payload["required"]) <= set(payload["properties"])


@pytest.mark.parametrize("event_type", types.ALL)
def test_every_event_type_has_a_message_whose_payload_is_its_schema_file(document, event_type):
    message = document["components"]["messages"][asyncapi.message_id(event_type)]
    payload = _resolve(document, message["payload"]["$ref"])
    assert payload["schema"] == load_schema(event_type)
    assert payload["schemaFormat"] == "application/schema+json;version=draft-2020-12"
    assert message["headers"]["properties"]["ce_type"]["const"] == event_type
