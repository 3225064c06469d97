"""Generate the AsyncAPI 3.0 document from the topic registry and the schema files.

    python -m shared.events.asyncapi > shared/events/asyncapi.yaml

The document is derived, never edited by hand; a unit test fails when it is out of date.
"""

import sys
from typing import Any

import yaml

from shared.events import types
from shared.events.contracts import CONTENT_TYPE, load_schema, schema_uri
from shared.kafka import consumer as dlt
from shared.topics import DEAD_LETTERS, TASKS, TOPICS, Topic, topic_for

SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
KAFKA_BINDING = "0.5.0"


def channel_id(topic: Topic) -> str:
    """`sangathan.otp-requests.v1` -> `otp-requests`."""
    return topic.name.split(".")[1]


def message_id(event_type: str) -> str:
    name, version = types.name_and_version(event_type)
    return f"{name}.v{version}"


def document() -> dict[str, Any]:
    messages = {message_id(event_type): _message(event_type) for event_type in types.ALL}
    messages["dead-letter"] = _dead_letter_message()
    messages["delivery-task"] = _delivery_task_message()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Sangathan events",
            "version": "1.0.0",
            "description": (
                "Every event the Sangathan services exchange over Kafka: CloudEvents 1.0 in binary "
                "content mode (attributes in ce_* headers, JSON data as the value, the booth or "
                "unit id as the message key and ce_subject). Generated from shared/topics.py and "
                "shared/events/schemas by `python -m shared.events.asyncapi`."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The single-node broker of `make up`.",
            },
        },
        "channels": {channel_id(topic): _channel(topic) for topic in TOPICS},
        "components": {
            "messages": messages,
            "schemas": {
                message_id(event_type): {
                    "schemaFormat": SCHEMA_FORMAT,
                    "schema": load_schema(event_type),
                }
                for event_type in types.ALL
            },
        },
    }


def _refs(topic: Topic) -> list[str]:
    if topic.carries == TASKS:
        return ["delivery-task"]
    if topic.carries == DEAD_LETTERS:
        return ["dead-letter"]
    return [message_id(event_type) for event_type in topic.event_types]


def _channel(topic: Topic) -> dict[str, Any]:
    refs = _refs(topic)
    config: dict[str, Any] = {"cleanup.policy": [topic.cleanup_policy]}
    if topic.retention_ms is not None:
        config["retention.ms"] = topic.retention_ms
    return {
        "address": topic.name,
        "description": topic.description + (f" Key: {topic.key_field}." if topic.key_field else ""),
        "messages": {ref: {"$ref": f"#/components/messages/{ref}"} for ref in refs},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "topicConfiguration": config,
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _message(event_type: str) -> dict[str, Any]:
    schema = load_schema(event_type)
    key_field = topic_for(event_type).key_field
    return {
        "name": message_id(event_type),
        "title": schema["title"],
        "summary": schema["description"],
        "contentType": CONTENT_TYPE,
        "headers": _cloudevents_headers(event_type, key_field),
        "payload": {"$ref": f"#/components/schemas/{message_id(event_type)}"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"The event's {key_field} (also ce_subject).",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _cloudevents_headers(event_type: str, key_field: str) -> dict[str, Any]:
    text = lambda description, **more: {"type": "string", "description": description, **more}  # noqa: E731
    return {
        "type": "object",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_subject",
            "ce_dataschema",
            "content-type",
        ],
        "properties": {
            "ce_specversion": text("CloudEvents version.", const="1.0"),
            "ce_id": text(
                "Unique per event; a re-published event keeps its id, "
                "so consumers deduplicate on it.",
                format="uuid",
            ),
            "ce_source": text("The emitting service, e.g. /sangathan/appointments."),
            "ce_type": text("The event type; names the payload schema.", const=event_type),
            "ce_time": text("When the event happened (RFC 3339).", format="date-time"),
            "ce_subject": text(f"The payload's {key_field}; equal to the message key."),
            "ce_dataschema": text("The payload's JSON Schema.", const=schema_uri(event_type)),
            "content-type": text("The payload's media type.", const=CONTENT_TYPE),
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    text = lambda description: {"type": "string", "description": description}  # noqa: E731
    return {
        "name": "dead-letter",
        "title": "A record a consumer could not use",
        "summary": "The original key, value and headers, unchanged, plus dlt_* headers.",
        "headers": {
            "type": "object",
            "required": [
                dlt.DLT_REASON,
                dlt.DLT_ERROR_CLASS,
                dlt.DLT_ERROR,
                dlt.DLT_ORIGINAL_TOPIC,
                dlt.DLT_ORIGINAL_PARTITION,
                dlt.DLT_ORIGINAL_OFFSET,
                dlt.DLT_GROUP,
                dlt.DLT_TIME,
            ],
            "properties": {
                dlt.DLT_REASON: {"type": "string", "enum": list(dlt.DEAD_LETTER_REASONS)},
                dlt.DLT_ERROR_CLASS: text("The exception's class."),
                dlt.DLT_ERROR: text("The error, phone numbers masked."),
                dlt.DLT_ORIGINAL_TOPIC: text("Where the record was read."),
                dlt.DLT_ORIGINAL_PARTITION: text("Its partition, as decimal text."),
                dlt.DLT_ORIGINAL_OFFSET: text("Its offset, as decimal text."),
                dlt.DLT_GROUP: text("The consumer group that gave up on it."),
                dlt.DLT_TIME: text("When it was dead-lettered (RFC 3339)."),
            },
            "additionalProperties": True,
        },
        "payload": {"description": "The original value, whatever it was."},
    }


# The notifier's delivery task (notifier.domain.tasks.Task) as it is written to a lane; a unit
# test keeps these fields equal to the dataclass's.
DELIVERY_TASK_FIELDS: dict[str, dict[str, Any]] = {
    "delivery_id": {
        "type": "string",
        "format": "uuid",
        "description": "Derived from what is delivered: the idempotency key.",
    },
    "send": {"type": "string", "enum": ["directive", "reminder", "otp", "escalation", "personal"]},
    "lane": {"type": "string", "enum": ["urgent", "normal", "bulk"]},
    "booth_id": {"type": "string", "description": "The message key."},
    "booth_path": {
        "type": ["object", "null"],
        "description": "The booth's ancestors; null for a unit's escalation.",
    },
    "recipient_id": {"type": "string"},
    "phone": {
        "type": "string",
        "description": "Personal data: why these topics keep hours to a day.",
    },
    "locale": {"type": "string"},
    "channels": {
        "type": "array",
        "items": {"type": "string"},
        "description": "In order of preference.",
    },
    "channel_index": {"type": "integer", "description": "The channel this task sends on."},
    "attempt": {"type": "integer", "description": "Transient failures so far on this channel."},
    "directive_id": {"type": ["string", "null"]},
    "otp_request_id": {"type": ["string", "null"]},
    "text": {
        "type": ["string", "null"],
        "description": "The whole message, for OTP codes, escalations and services' messages.",
    },
    "expires_at": {"type": ["number", "null"], "description": "Epoch seconds; dropped after it."},
    "campaign": {"type": "boolean", "description": "Quiet hours and the polling blackout apply."},
    "quiet_hours_override": {
        "type": "boolean",
        "description": "An authorised urgent directive: quiet hours lifted, the blackout not.",
    },
    "queued_at": {"type": "number", "description": "Epoch seconds it was first produced."},
    "round": {
        "type": ["string", "null"],
        "description": "The round of a recurring directive (its slot, UTC).",
    },
    "message_id": {
        "type": ["string", "null"],
        "description": "The calling service's id of a personal message (POST /v1/messages).",
    },
}


def _delivery_task_message() -> dict[str, Any]:
    return {
        "name": "delivery-task",
        "title": "One message to one recipient on one channel",
        "summary": (
            "The notifier's own work queue record: plain JSON, not a CloudEvent, "
            "read only by the notifier's lanes. "
            "A task with the same delivery_id is the same message and is sent once."
        ),
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "required": [
                "delivery_id",
                "send",
                "lane",
                "booth_id",
                "recipient_id",
                "phone",
                "locale",
                "channels",
            ],
            "properties": DELIVERY_TASK_FIELDS,
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The booth id."},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def render() -> str:
    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=110)


if __name__ == "__main__":
    sys.stdout.write(render())
