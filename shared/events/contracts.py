"""Validate event data against its schema and map events to and from Kafka records.

Events travel as CloudEvents 1.0 in Kafka binary content mode: attributes in `ce_*` headers,
`content-type: application/json`, the JSON data as the value, and the booth or unit id as both
the message key (so one booth's events stay in order) and the CloudEvents `subject`.
"""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache, lru_cache, partial
from importlib import resources
from typing import Any, Callable, Iterable, Mapping

import fastjsonschema
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from shared.events import types
from shared.topics import topic_for

CONTENT_TYPE = "application/json"
SCHEMA_BASE = "https://sangathan.example/schemas/events/"
# Headers the binding needs; without them the CloudEvents library would silently invent
# an id and a time, and a redelivered event would no longer deduplicate.
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")
_FORMAT = JSONFormat()

Headers = Mapping[str, bytes | str | None] | Iterable[tuple[str, bytes | str | None]] | None


class EventError(Exception):
    """Base of every contract error."""


class UnparseableEventError(EventError):
    """The record is not a CloudEvent with a JSON object as data: nothing to validate."""


class InvalidEventError(EventError, ValueError):
    """The event breaks its contract. `problems` lists (field, reason); the first is in the message.

    Reasons never quote the offending value: it may be personal data, and errors get logged.
    """

    def __init__(self, event_type: str, problems: list[tuple[str, str]]):
        self.event_type = event_type
        self.problems = problems
        self.field, self.reason = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{event_type}: {self.field} {self.reason}{more}")


class UnknownEventTypeError(InvalidEventError):
    def __init__(self, event_type: str):
        super().__init__(event_type, [("type", "is not a known event type")])


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str  # the emitting service, e.g. /sangathan/appointments
    subject: str  # the booth or unit id; also the Kafka message key
    time: datetime
    data: dict[str, Any]

    @property
    def key(self) -> str:
        return self.subject

    @property
    def dataschema(self) -> str:
        return schema_uri(self.type)


# --- schemas ---------------------------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_FORMATS = FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    # jsonschema checks date-time only with an extra package; an offset is required because a
    # bare local time is ambiguous between IST and UTC.
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value)  # raises on impossible dates such as 2024-02-30
    return True


def schema_uri(event_type: str) -> str:
    name, version = types.name_and_version(event_type)
    return f"{SCHEMA_BASE}{name}/v{version}.json"


def load_schema(event_type: str) -> dict[str, Any]:
    """The schema file's content (a fresh copy)."""
    name, version = types.name_and_version(event_type)
    path = resources.files("shared.events") / "schemas" / name / f"v{version}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _validator(event_type: str) -> Draft202012Validator:
    if event_type not in types.ALL:
        raise UnknownEventTypeError(event_type)
    return Draft202012Validator(load_schema(event_type), format_checker=_FORMATS)


@cache
def _compiled(event_type: str) -> Callable[[Any], Any]:
    """The schema compiled to Python code: the fast judge of every event (~40x jsonschema's).

    Formats are the very checks jsonschema uses, so both judge a value alike. The one known
    difference is stricter: fastjsonschema reads a pattern's `$` as the end of the string, so it
    also refuses a value with a trailing newline.
    """
    if event_type not in types.ALL:
        raise UnknownEventTypeError(event_type)
    formats = {name: _format_check(name) for name in _FORMATS.checkers}
    return fastjsonschema.compile(load_schema(event_type), formats=formats, use_default=False)


# Times only, never personal data, so remembering their values is safe.
_REMEMBERED_FORMATS = {"date-time", "date"}
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def _format_check(name: str) -> Callable[[str], bool]:
    """jsonschema's check of one format, made cheaper where it is run once an event at 65,015
    events (a state's invitations): a canonical uuid, which it always accepts, is accepted at
    sight; a time remembers its recent answers, as a batch's events repeat theirs."""
    check = partial(_FORMATS.conforms, format=name)
    if name == "uuid":
        return lambda value: _CANONICAL_UUID.match(value) is not None or check(value)
    return lru_cache(maxsize=256)(check) if name in _REMEMBERED_FORMATS else check


def validate(event_type: str, data: Any) -> None:
    """Raise InvalidEventError naming each field that breaks the schema, and why."""
    try:
        _compiled(event_type)(data)
        return
    except fastjsonschema.JsonSchemaValueException as refused:
        # Kept for where only the stricter fastjsonschema refuses (see _compiled).
        path = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in refused.path[1:]
        ).lstrip(".")
        stricter = (path or "data", f"fails {refused.rule}: {refused.rule_definition}")
    # Refused: jsonschema, slower, names every field that breaks the schema and why.
    errors = sorted(
        _validator(event_type).iter_errors(data), key=lambda e: list(map(str, e.absolute_path))
    )
    # One reason per field: a bad uuid fails both its format and its pattern.
    problems: dict[str, str] = {}
    for error in errors:
        for field, reason in _describe(error):
            problems.setdefault(field, reason)
    raise InvalidEventError(event_type, list(problems.items()) or [stricter])


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(
        "."
    )
    v, expected = error.validator, error.validator_value
    field = lambda name: f"{path}.{name}" if path else name  # noqa: E731
    if v == "required":  # one error per missing field, named only in its message
        missing = re.match(r"^'(.+)' is a required property$", error.message)
        return [(field(missing[1] if missing else "?"), "is required")]
    if v == "additionalProperties":  # one error for all the extra fields
        known, patterns = (
            error.schema.get("properties", {}),
            error.schema.get("patternProperties", {}),
        )
        extra = [
            k
            for k in error.instance
            if k not in known and not any(re.search(p, k) for p in patterns)
        ]
        return [
            (field(k), "is not allowed (the schema lists every field an event may carry)")
            for k in extra
        ]
    reasons = {
        "type": lambda: (
            f"must be of type {' or '.join(expected) if isinstance(expected, list) else expected}"
        ),
        "enum": lambda: "must be one of " + ", ".join(map(str, expected)),
        "const": lambda: f"must be {expected!r}",
        "pattern": lambda: f"does not match {expected}",
        "format": lambda: f"is not a valid {expected}",
        "not": lambda: f"must not be {expected.get('const', expected)!r}",
        "minItems": lambda: f"must have at least {expected} item(s)",
        "maxItems": lambda: f"must have at most {expected} items",
        "uniqueItems": lambda: "must not repeat an item",
        "minLength": lambda: f"must be at least {expected} character(s) long",
        "maxLength": lambda: f"must be at most {expected} characters long",
        "minimum": lambda: f"must be at least {expected}",
    }
    reason = reasons.get(v, lambda: f"fails {v}: {expected}")()
    return [(path or "data", reason)]


# --- events and the Kafka binding --------------------------------------------------------------


def new_event(
    event_type: str,
    data: dict[str, Any],
    source: str,
    *,
    event_id: str | None = None,
    time: datetime | None = None,
) -> Event:
    """A validated event, keyed by its topic's key field (booth or unit id).

    Pass `event_id` and `time` to re-create an event already stored (an outbox re-publishing),
    so consumers see the same id twice and can drop the duplicate.
    """
    validate(event_type, data)
    time = time or datetime.now(timezone.utc)
    if time.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    subject = data[topic_for(event_type).key_field]
    return Event(str(event_id or uuid.uuid4()), event_type, source, subject, time, data)


def to_kafka(
    event: Event, *, validated: bool = False
) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) for `Producer.produce`; validates the data first, unless the
    caller has just made the event with `new_event`, which did (a large batch halves its CPU).

    The record is the CloudEvents library's binary mode byte for byte (the unit tests compare
    them), written here directly: the library's event object and its checks cost more than the
    rest of a record, 65,015 times for a state's invitations. An event those checks would refuse
    goes through the library, which refuses it as before."""
    if not validated:
        validate(event.type, event.data)
    batch = Batch(event.type, event.source, event.time)
    key, value, headers = batch.written(event.id, event.subject, event.data)
    return batch.topic, key, value, headers


class Batch:
    """The records of a batch of events of one type, from one source, made at one time: what
    they share is written once, and each event's record is to_kafka's for it."""

    __slots__ = ("event_type", "source", "at", "topic", "_key_field", "_plain", "_shared")

    def __init__(self, event_type: str, source: str, at: datetime):
        self.event_type, self.source, self.at = event_type, source, at
        topic = topic_for(event_type)
        self.topic, self._key_field = topic.name, topic.key_field
        # What the library's checks take as it is (anything else goes through it, refused).
        self._plain = _text(source) and isinstance(at, datetime) and at.tzinfo is not None
        if self._plain:  # the headers but ce_id and ce_subject, in the library's order
            self._shared = (
                ("ce_source", source.encode()),
                ("ce_type", event_type.encode()),
                ("ce_time", _time_header(at)),
                ("content-type", _CONTENT_TYPE_BYTES),
                ("ce_dataschema", _schema_bytes(event_type)),
                ("ce_specversion", b"1.0"),
            )

    def record(self, event_id: str, data: dict[str, Any]) -> tuple[bytes, bytes, list]:
        """(key, value, headers) of one event of the batch, its data validated first; keyed as
        new_event keys it."""
        validate(self.event_type, data)
        return self.written(event_id, data[self._key_field], data)

    def written(self, event_id: str, subject: str, data: Any) -> tuple[bytes, bytes, list]:
        """(key, value, headers) of one event of the batch whose data was validated."""
        if not (self._plain and _text(event_id) and _text(subject) and isinstance(data, dict)):
            event = Event(event_id, self.event_type, self.source, subject, self.at, data)
            _, key, value, headers = _library_record(event)
            return key, value, headers
        key, shared = subject.encode(), self._shared
        headers = [("ce_id", event_id.encode()), shared[0], shared[1], ("ce_subject", key)]
        headers += shared[2:]
        return key, _JSON.encode(data).encode(), headers


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


class _JSONEncoder(json.JSONEncoder):
    """The CloudEvents library's JSON for data (a datetime as RFC 3339, UTC as Z), made once."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return _rfc3339(o)
        return super().default(o)


_JSON = _JSONEncoder()
_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()


@cache
def _schema_bytes(event_type: str) -> bytes:
    return schema_uri(event_type).encode()


def _time_header(at: datetime) -> bytes:
    """ce_time; remembered, as a batch's events share their time. By offset too: one instant in
    IST and in UTC is one equal datetime, but two texts."""
    return _time_text(at, at.utcoffset())


@lru_cache(maxsize=64)
def _time_text(at: datetime, offset: timedelta | None) -> bytes:
    return _rfc3339(at).encode()


def _rfc3339(at: datetime) -> str:
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _library_record(event: Event) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    """The record as the CloudEvents library writes it (and refuses what it refuses)."""
    cloud_event = CloudEvent(
        {
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": event.time,
            "datacontenttype": CONTENT_TYPE,
            "dataschema": event.dataschema,
        },
        event.data,
    )
    message = ce_kafka.to_binary(cloud_event, _FORMAT, key_mapper=lambda e: e.get_subject())
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return topic_for(event.type).name, key, message.value, list(message.headers.items())


def from_kafka(headers: Headers, key: bytes | str | None, value: bytes | None) -> Event:
    """The event in a Kafka record; UnparseableEventError or InvalidEventError if it is not one."""
    cloud_event = _parse(headers, key, value)
    event_type = cloud_event.get_type()
    validate(event_type, cloud_event.get_data())
    data: dict[str, Any] = cloud_event.get_data()  # type: ignore[assignment]
    key_text = key.decode(errors="replace") if isinstance(key, bytes) else key
    subject = cloud_event.get_subject() or key_text
    problems = []
    if key_text is not None and subject != key_text:
        problems.append(("subject", "does not match the message key"))
    key_field = topic_for(event_type).key_field
    if data[key_field] != subject:
        problems.append((key_field, "does not match the event's key"))
    dataschema = cloud_event.get_dataschema()
    if dataschema is not None and dataschema != schema_uri(event_type):
        problems.append(("dataschema", f"must be {schema_uri(event_type)}"))
    if problems:
        raise InvalidEventError(event_type, problems)
    return Event(
        cloud_event.get_id(),
        event_type,
        cloud_event.get_source(),
        subject,
        cloud_event.get_time(),
        data,
    )


def _parse(headers: Headers, key: bytes | str | None, value: bytes | None) -> CloudEvent:
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    try:
        # Kafka allows repeated and null headers; the last value of a name wins.
        header_bytes = {
            name.lower(): (raw.encode() if isinstance(raw, str) else raw or b"")
            for name, raw in pairs
        }
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnparseableEventError(f"headers are not name/value pairs: {exc}") from exc
    missing = [name for name in REQUIRED_HEADERS if name not in header_bytes]
    if missing:
        raise UnparseableEventError("missing CloudEvents headers: " + ", ".join(missing))
    content_type = header_bytes.get("content-type", b"").split(b";")[0].strip()
    if content_type != CONTENT_TYPE.encode():
        raise UnparseableEventError(f"content-type must be {CONTENT_TYPE}")
    if header_bytes["ce_specversion"] != b"1.0":
        raise UnparseableEventError("ce_specversion must be 1.0")
    try:
        message = ce_kafka.KafkaMessage(headers=header_bytes, key=key, value=value or b"")
        cloud_event = ce_kafka.from_binary(message, _FORMAT, CloudEvent)
    except (
        ValueError,
        OverflowError,
        BaseCloudEventException,
    ) as exc:  # bad UTF-8, bad ce_time, ...
        raise UnparseableEventError(f"not a CloudEvent: {type(exc).__name__}: {exc}") from exc
    # The binding falls back to the raw text when the value is not JSON.
    if not isinstance(cloud_event.get_data(), dict):
        raise UnparseableEventError("value is not a JSON object")
    return cloud_event  # type: ignore[return-value]
