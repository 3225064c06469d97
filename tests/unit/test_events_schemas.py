"""The event schemas: good examples pass, bad data fails naming the field, no personal data fits."""

import copy
import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from shared.events import types
from shared.events.contracts import InvalidEventError, load_schema, schema_uri, validate

SCHEMAS = resources.files("shared.events") / "schemas"


def example(event_type: str, index: int = 0) -> dict:
    return copy.deepcopy(load_schema(event_type)["examples"][index])


def test_there_is_one_schema_file_per_event_type_and_no_other():
    files = {f"{d.name}/{f.name}" for d in SCHEMAS.iterdir() if d.is_dir() for f in d.iterdir()}
    expected = {"{}/v{}.json".format(*types.name_and_version(t)) for t in types.ALL}
    assert files == expected


@pytest.mark.parametrize("event_type", types.ALL)
def test_schema_is_valid_draft_2020_12_with_its_versioned_id(event_type):
    schema = load_schema(event_type)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_uri(event_type)


@pytest.mark.parametrize("event_type", types.ALL)
def test_every_example_in_a_schema_is_valid(event_type):
    examples = load_schema(event_type)["examples"]
    assert examples
    for data in examples:
        validate(event_type, data)


def _object_schemas(schema: dict, path: str = ""):
    if "object" in (
        schema.get("type") if isinstance(schema.get("type"), list) else [schema.get("type")]
    ):
        yield path or "(root)", schema
    for name, sub in schema.get("properties", {}).items():
        yield from _object_schemas(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _object_schemas(schema["items"], f"{path}[]")


@pytest.mark.parametrize("event_type", types.ALL)
def test_every_object_is_closed_and_lists_every_field_as_required(event_type):
    for path, obj in _object_schemas(load_schema(event_type)):
        assert obj.get("additionalProperties") is False, path
        # title/body texts allow extra language keys but still require en and hi
        if "patternProperties" not in obj:
            assert set(obj["required"]) == set(obj["properties"]), path


PERSONAL = ("phone", "mobile", "name", "email", "address", "voter_id", "aadhaar")


@pytest.mark.parametrize("event_type", types.ALL)
def test_only_otp_requested_may_carry_a_phone_and_no_event_carries_names(event_type):
    fields = {
        name for _, obj in _object_schemas(load_schema(event_type)) for name in obj["properties"]
    }
    carried = {f for f in fields if f in PERSONAL}
    assert carried == ({"phone"} if event_type == types.OTP_REQUESTED else set())


# Fields that mean the same thing must be defined the same way in every schema that has them,
# or one team's valid booth_path is another team's invalid one.
SHARED_FIELDS = (
    "booth_id",
    "booth_path",
    "appointment_id",
    "gender",
    "organiser_id",
    "request_id",
    "recipient_id",
)


@pytest.mark.parametrize("field", SHARED_FIELDS)
def test_a_shared_field_has_one_definition_across_schemas(field):
    definitions = {
        t: json.dumps(load_schema(t)["properties"][field], sort_keys=True)
        for t in types.ALL
        if field in load_schema(t)["properties"]
    }
    assert len(definitions) >= 2
    assert len(set(definitions.values())) == 1, definitions


def _set(data: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    target = data
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return data


_DELETE = object()

REJECTED = [
    # (event type, field set to value, field named in the error, words in the reason)
    (types.BOOTH_PRESIDENT_APPOINTED, "phone", "+919876543210", "phone", "not allowed"),
    (types.BOOTH_PRESIDENT_APPOINTED, "name", "Ram Kumar", "name", "not allowed"),
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        "booth_path.phone",
        "+919876543210",
        "booth_path.phone",
        "not allowed",
    ),
    (types.BOOTH_PRESIDENT_APPOINTED, "role", "member", "role", "booth_president"),
    (types.BOOTH_PRESIDENT_APPOINTED, "gender", "f", "gender", "one of female, male, other"),
    (types.BOOTH_PRESIDENT_APPOINTED, "gender", _DELETE, "gender", "required"),
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        "booth_path.mandal",
        _DELETE,
        "booth_path.mandal",
        "required",
    ),
    (types.BOOTH_PRESIDENT_APPOINTED, "appointment_id", "42", "appointment_id", "not a valid uuid"),
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        "appointed_at",
        "2024-11-02 10:15",
        "appointed_at",
        "date-time",
    ),
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        "appointed_at",
        "2024-11-02T10:15:00",
        "appointed_at",
        "date-time",
    ),
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        "appointed_at",
        "2024-02-30T10:15:00Z",
        "appointed_at",
        "date-time",
    ),
    (
        types.BOOTH_PRESIDENT_APPOINTED,
        "replaces_appointment_id",
        7,
        "replaces_appointment_id",
        "string or null",
    ),
    (
        types.BOOTH_MEMBER_APPOINTED,
        "role",
        "booth_president",
        "role",
        "must not be 'booth_president'",
    ),
    (types.BOOTH_MEMBER_APPOINTED, "role", "Panna Pramukh", "role", "does not match"),
    (types.APPOINTMENT_VERIFIED, "phone", "+919876543210", "phone", "not allowed"),
    (types.APPOINTMENT_REVOKED, "reason", "fired", "reason", "one of revoked, replaced"),
    (types.OTP_REQUESTED, "phone", "9876543210", "phone", "does not match"),
    (types.OTP_REQUESTED, "phone", "+0123456789", "phone", "does not match"),
    (types.OTP_REQUESTED, "channel", "email", "channel", "one of sms, whatsapp"),
    (types.OTP_VERIFIED, "phone", "+919876543210", "phone", "not allowed"),
    (
        types.OTP_FAILED,
        "reason",
        "timeout",
        "reason",
        "one of expired, locked, undeliverable, rejected",
    ),
    (types.DIRECTIVE_ISSUED, "scope", [], "scope", "at least 1"),
    (types.DIRECTIVE_ISSUED, "channels", ["whatsapp", "fax"], "channels[1]", "one of whatsapp"),
    (types.DIRECTIVE_ISSUED, "channels", ["sms", "sms"], "channels", "repeat"),
    (types.DIRECTIVE_ISSUED, "title.hi", _DELETE, "title.hi", "required"),
    (types.DIRECTIVE_ISSUED, "priority", "high", "priority", "one of urgent, normal, bulk"),
    (types.DELIVERY_STATUS, "recipient_id", "+919876543210", "recipient_id", "not a valid uuid"),
    (types.DELIVERY_STATUS, "status", "seen", "status", "one of sent, delivered, read, failed"),
    (
        types.DELIVERY_STATUS,
        "error",
        {"code": "x", "retryable": True, "message": "bad number"},
        "error.message",
        "not allowed",
    ),
    (types.DIRECTIVE_ACKNOWLEDGED, "via", "call", "via", "one of reply, link"),
    (types.COVERAGE_UPDATED, "booths_total", -1, "booths_total", "at least 0"),
    # Reports: free text and phones stay in the reports service; the platform's caps hold.
    (
        types.REPORT_SUBMITTED,
        "answers",
        [{"question_id": "q", "text": "x"}],
        "answers[0].text",
        "not allowed",
    ),
    (types.REPORT_SUBMITTED, "phone", "+919876543210", "phone", "not allowed"),
    (types.REPORT_SUBMITTED, "period_key", "yesterday", "period_key", "does not match"),
    (types.REPORT_REVIEWED, "reason", "numbers look made up", "reason", "one of incomplete"),
    (types.REPORT_DISPATCHED, "audience", [], "audience", "at least 1"),
    (types.FORM_PUBLISHED, "questions", [], "questions", "at least 1"),
    (types.FORM_PUBLISHED, "kind", "poll", "kind", "one of feedback, seva"),
    (types.WHATSAPP_GROUP_UPDATED, "name", "Booth 12 parivar", "name", "not allowed"),
    (
        types.WHATSAPP_GROUP_UPDATED,
        "invite_link",
        "https://chat.whatsapp.com/x",
        "invite_link",
        "not allowed",
    ),
    (types.WHATSAPP_GROUP_UPDATED, "members", 1025, "members", "fails maximum"),
]


@pytest.mark.parametrize(("event_type", "field", "value", "named", "reason"), REJECTED)
def test_bad_data_is_rejected_naming_the_field_and_reason(event_type, field, value, named, reason):
    data = _set(example(event_type), field, value)
    with pytest.raises(InvalidEventError) as caught:
        validate(event_type, data)
    assert (caught.value.field, reason in caught.value.reason) == (named, True), (
        caught.value.problems
    )
    assert named in str(caught.value)


def test_form_published_v2_keeps_v1s_fields_and_requires_each_label_in_hindi_and_english():
    v2 = example(types.FORM_PUBLISHED_V2)
    v1 = example(types.FORM_PUBLISHED)
    # v1's fields are all still there and mean the same; v2 only adds the labels.
    v1_question = load_schema(types.FORM_PUBLISHED)["properties"]["questions"]["items"]
    v2_question = load_schema(types.FORM_PUBLISHED_V2)["properties"]["questions"]["items"]
    for name, definition in v1_question["properties"].items():
        assert v2_question["properties"][name] == definition, name
    assert set(v2_question["properties"]) - set(v1_question["properties"]) == {"label", "options"}
    stripped = copy.deepcopy(v2)
    for question in stripped["questions"]:
        del question["label"], question["options"]
    validate(types.FORM_PUBLISHED, stripped)
    # Each version is its own contract: a v1 form is no v2, nor a v2 form a v1.
    with pytest.raises(InvalidEventError) as caught:
        validate(types.FORM_PUBLISHED_V2, v1)
    assert caught.value.field == "questions[0].label"
    with pytest.raises(InvalidEventError) as caught:
        validate(types.FORM_PUBLISHED, v2)
    assert (caught.value.field, "not allowed" in caught.value.reason) == (
        "questions[0].label",
        True,
    )
    del v2["questions"][0]["options"][1]["label"]["en"]
    with pytest.raises(InvalidEventError) as caught:
        validate(types.FORM_PUBLISHED_V2, v2)
    assert caught.value.field == "questions[0].options[1].label.en"


def test_a_trailing_newline_is_refused_where_a_pattern_ends_the_value():
    # The compiled validator reads `$` as the end of the string; jsonschema alone would let it pass.
    data = example(types.APPOINTMENT_VERIFIED)
    data["booth_id"] += "\n"
    with pytest.raises(InvalidEventError) as caught:
        validate(types.APPOINTMENT_VERIFIED, data)
    assert (caught.value.field, "pattern" in caught.value.reason) == ("booth_id", True), (
        caught.value.problems
    )


def test_rejection_never_quotes_the_offending_value():
    data = example(types.OTP_REQUESTED)
    data["phone"] = "+91 98765 43210"
    with pytest.raises(InvalidEventError) as caught:
        validate(types.OTP_REQUESTED, data)
    assert "98765" not in str(caught.value)


def test_directive_text_is_full_unicode_and_may_add_languages():
    data = example(types.DIRECTIVE_ISSUED)
    data["title"]["ta"] = "மன் கி பாத்"
    validate(types.DIRECTIVE_ISSUED, data)


def test_unknown_event_type_is_rejected():
    with pytest.raises(InvalidEventError, match="not a known event type"):
        validate("org.sangathan.booth-president-appointed.v9", {})


def test_every_missing_and_every_extra_field_is_listed():
    data = example(types.OTP_VERIFIED)
    del data["request_id"], data["verified_at"]
    data |= {"phone": "+919876543210", "name": "x"}
    with pytest.raises(InvalidEventError) as caught:
        validate(types.OTP_VERIFIED, data)
    assert {field for field, _ in caught.value.problems} == {
        "request_id",
        "verified_at",
        "phone",
        "name",
    }
