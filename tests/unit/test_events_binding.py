"""Events to Kafka records and back: CloudEvents binary mode, key = subject, validated both ways."""

import copy
import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from cloudevents.core.exceptions import CloudEventValidationError

from shared.events import types
from shared.events.contracts import (
    _FORMATS,
    Batch,
    Event,
    InvalidEventError,
    UnknownEventTypeError,
    UnparseableEventError,
    _format_check,
    _library_record,
    from_kafka,
    load_schema,
    new_event,
    to_kafka,
)

SOURCE = "/sangathan/appointments"


def example(event_type: str) -> dict:
    return copy.deepcopy(load_schema(event_type)["examples"][0])


def president_appointed() -> Event:
    return new_event(
        types.BOOTH_PRESIDENT_APPOINTED, example(types.BOOTH_PRESIDENT_APPOINTED), SOURCE
    )


@pytest.mark.parametrize("event_type", types.ALL)
def test_every_event_type_survives_the_round_trip(event_type):
    event = new_event(event_type, example(event_type), SOURCE)
    _, key, value, headers = to_kafka(event)
    assert from_kafka(headers, key, value) == event


@pytest.mark.parametrize("event_type", types.ALL)
@pytest.mark.parametrize(
    "at",
    [
        datetime(2030, 1, 1, 4, 30, 0, 123456, tzinfo=timezone.utc),
        datetime(2030, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ],
    ids=["utc", "ist"],
)
def test_the_record_is_the_cloudevents_librarys_byte_for_byte(event_type, at):
    # to_kafka writes binary mode itself (per-event CPU): it must stay what the library writes.
    event = new_event(event_type, example(event_type), SOURCE, time=at)
    assert to_kafka(event) == _library_record(event)


def test_one_instant_in_two_offsets_keeps_each_its_own_time_text():
    utc = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
    ist = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    for at in (utc, ist, utc):
        event = new_event(
            types.BOOTH_PRESIDENT_APPOINTED,
            example(types.BOOTH_PRESIDENT_APPOINTED),
            SOURCE,
            time=at,
        )
        assert to_kafka(event) == _library_record(event)


@pytest.mark.parametrize(
    "value",
    [
        "0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7e11",
        "0B6F3F4E-6A8E-4A57-9D3B-2F0C1D9A7E11",
        "{0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7e11}",
        "urn:uuid:0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7e11",
        "0b6f3f4e6a8e4a579d3b2f0c1d9a7e11",
        "0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7e1",
        "0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7e11\n",
        "0b6f3f4e-6a8e-4a57-9d3b-2f0c1d9a7g11",
        "",
    ],
)
def test_the_fast_uuid_check_judges_as_jsonschema_does(value):
    assert _format_check("uuid")(value) == _FORMATS.conforms(value, "uuid")


@pytest.mark.parametrize("event_type", types.ALL)
def test_a_batchs_record_is_the_events_own(event_type):
    at = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
    batch = Batch(event_type, SOURCE, at)
    data, event_id = example(event_type), str(uuid.uuid4())
    topic, key, value, headers = to_kafka(
        new_event(event_type, data, SOURCE, event_id=event_id, time=at)
    )
    assert batch.topic == topic and batch.record(event_id, data) == (key, value, headers)


def test_a_batch_refuses_what_the_library_refuses():
    batch = Batch(types.PARTICIPANT_INVITED, SOURCE, datetime.now(timezone.utc))
    with pytest.raises(CloudEventValidationError):
        batch.record("", example(types.PARTICIPANT_INVITED))
    with pytest.raises(InvalidEventError):
        batch.record("id", {**example(types.PARTICIPANT_INVITED), "phone": "+919812345678"})


def test_an_event_the_library_refuses_is_still_refused():
    empty_subject = replace(president_appointed(), subject="")
    with pytest.raises(CloudEventValidationError):
        to_kafka(empty_subject)


def test_record_is_cloudevents_binary_mode_keyed_by_booth():
    event = president_appointed()
    topic, key, value, headers = to_kafka(event)
    h = dict(headers)
    assert topic == "sangathan.appointments.v1"
    assert key == b"IN-MP-D07-A03-M02-S05-B012" == h["ce_subject"]
    assert json.loads(value) == event.data
    assert h["content-type"] == b"application/json"
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_id"] == event.id.encode()
    assert h["ce_type"] == b"org.sangathan.booth-president-appointed.v1"
    assert h["ce_source"] == SOURCE.encode()
    assert (
        h["ce_dataschema"]
        == b"https://sangathan.example/schemas/events/booth-president-appointed/v1.json"
    )
    assert datetime.fromisoformat(h["ce_time"].decode()) == event.time


def test_new_event_takes_its_key_from_the_topic_key_field():
    directive = new_event(
        types.DIRECTIVE_ISSUED, example(types.DIRECTIVE_ISSUED), "/sangathan/notifier"
    )
    coverage = new_event(
        types.COVERAGE_UPDATED, example(types.COVERAGE_UPDATED), "/sangathan/analytics"
    )
    assert (directive.key, coverage.key) == ("IN", "IN-MP-D07")
    uuid.UUID(directive.id)
    assert directive.time.tzinfo is not None


def test_republishing_keeps_the_callers_event_id_and_time():
    event = president_appointed()
    again = new_event(event.type, event.data, SOURCE, event_id=event.id, time=event.time)
    assert again == event


def test_new_event_refuses_a_naive_time():
    with pytest.raises(ValueError, match="timezone"):
        new_event(
            types.OTP_VERIFIED,
            example(types.OTP_VERIFIED),
            "/sangathan/otp",
            time=datetime(2024, 11, 2, 10, 0),
        )


def test_new_event_validates_the_data():
    data = example(types.BOOTH_PRESIDENT_APPOINTED) | {"phone": "+919876543210"}
    with pytest.raises(InvalidEventError, match="phone is not allowed"):
        new_event(types.BOOTH_PRESIDENT_APPOINTED, data, SOURCE)


def test_to_kafka_validates_on_the_way_out():
    event = president_appointed()
    event.data["phone"] = "+919876543210"  # the dataclass is frozen, its dict is not
    with pytest.raises(InvalidEventError):
        to_kafka(event)


def test_hindi_text_round_trips_intact():
    event = new_event(
        types.DIRECTIVE_ISSUED, example(types.DIRECTIVE_ISSUED), "/sangathan/notifier"
    )
    _, key, value, headers = to_kafka(event)
    assert from_kafka(headers, key, value).data["title"]["hi"] == "रविवार को मन की बात"


def test_from_kafka_accepts_confluent_style_headers_with_a_null_value_and_dict_headers():
    _, key, value, headers = to_kafka(president_appointed())
    assert from_kafka(headers + [("traceparent", None)], key, value).key == key.decode()
    assert from_kafka(dict(headers), key.decode(), value).key == key.decode()


def test_ce_time_with_offset_is_read_as_the_same_instant():
    event = replace(
        president_appointed(),
        time=datetime(2024, 11, 2, 10, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    )
    _, key, value, headers = to_kafka(event)
    assert from_kafka(headers, key, value).time == event.time


def _record(**changes):
    _, key, value, headers = to_kafka(president_appointed())
    h = dict(headers)
    for name, new in changes.get("headers", {}).items():
        if new is None:
            h.pop(name)
        else:
            h[name] = new
    return list(h.items()), changes.get("key", key), changes.get("value", value)


UNPARSEABLE = {
    "value not json": _record(value=b"{not json"),
    "value empty": _record(value=b""),
    "value a json list": _record(value=b"[1, 2]"),
    "no ce headers": ([], b"k", b"{}"),
    "no ce_id": _record(headers={"ce_id": None}),
    "no ce_time": _record(headers={"ce_time": None}),
    "bad ce_time": _record(headers={"ce_time": b"yesterday"}),
    "naive ce_time": _record(headers={"ce_time": b"2024-11-02T10:15:00"}),
    "not utf-8": _record(headers={"ce_source": b"\xff\xfe"}),
    "wrong content type": _record(headers={"content-type": b"text/plain"}),
    "wrong spec version": _record(headers={"ce_specversion": b"0.3"}),
}


@pytest.mark.parametrize("record", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_a_record_that_is_not_a_cloudevent_is_unparseable(record):
    with pytest.raises(UnparseableEventError):
        from_kafka(*record)


INVALID = {
    "data breaks schema": (
        _record(
            value=json.dumps(
                example(types.BOOTH_PRESIDENT_APPOINTED) | {"phone": "+919876543210"}
            ).encode()
        ),
        "phone",
    ),
    "unknown type": (
        _record(headers={"ce_type": b"org.sangathan.booth-president-appointed.v7"}),
        "type",
    ),
    "key is another booth": (_record(key=b"IN-MP-D07-A03-M02-S05-B013"), "subject"),
    "subject is another booth": (
        _record(headers={"ce_subject": b"IN-MP-D07-A03-M02-S05-B013"}),
        "subject",
    ),
    "data is about another booth": (
        _record(headers={"ce_subject": b"B013"}, key=b"B013"),
        "booth_id",
    ),
    "wrong dataschema": (
        _record(headers={"ce_dataschema": b"https://example.com/x.json"}),
        "dataschema",
    ),
}


@pytest.mark.parametrize(("record", "field"), INVALID.values(), ids=INVALID.keys())
def test_a_cloudevent_breaking_its_contract_is_invalid_naming_the_field(record, field):
    with pytest.raises(InvalidEventError) as caught:
        from_kafka(*record)
    assert caught.value.field == field
    assert not isinstance(caught.value, UnparseableEventError)


def test_unknown_type_has_its_own_error_class():
    with pytest.raises(UnknownEventTypeError):
        from_kafka(*INVALID["unknown type"][0])


def test_subject_falls_back_to_the_key_when_the_header_is_missing():
    headers, key, value = _record(headers={"ce_subject": None})
    assert from_kafka(headers, key, value).subject == key.decode()
