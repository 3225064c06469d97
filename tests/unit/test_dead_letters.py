"""What a dead letter keeps of a record that carries people (shared/kafka/deadletters.py)."""

import json

import pytest

from shared.crypto.fields import keyring
from shared.kafka.deadletters import FIELDS, MASKED, VALUE, DeadLetterSeal

TASK = {
    "delivery_id": "d-1",
    "phone": "+919812345678",
    "text": "code 123456",
    "recipient": {"name": "Sunita Devi", "phones": [{"phone": "+919812345679"}]},
}


@pytest.fixture
def seal() -> DeadLetterSeal:
    return DeadLetterSeal(keyring(b"k1:" + b"s" * 40, "test keys"))


def test_personal_fields_at_any_depth_are_sealed_and_the_rest_stays_readable(seal):
    value, how = seal(json.dumps(TASK).encode())
    assert how == FIELDS and b"981234567" not in value and b"Sunita" not in value
    kept = json.loads(value)
    assert (kept["delivery_id"], kept["text"]) == ("d-1", "code 123456")
    assert json.loads(seal.opened(value, how)) == TASK


def test_a_value_that_is_not_json_is_sealed_whole_only_when_it_holds_a_phone(seal):
    assert seal(b"{not json") == (b"{not json", None)
    value, how = seal(b"\xff call 98123 45678 \x00")
    assert how == VALUE and b"45678" not in value
    assert seal.opened(value, how) == b"\xff call 98123 45678 \x00"


def test_without_a_keyring_personal_fields_are_masked_not_kept():
    masked = DeadLetterSeal(None)
    value, how = masked(json.dumps(TASK).encode())
    assert (
        how == MASKED
        and json.loads(value)["phone"] == "***78"
        and json.loads(value)["recipient"]["name"] == "***"
    )
    assert masked(b"to +919812345678")[0] == b"to ***78"


def test_a_record_without_people_is_dead_lettered_as_it_came(seal):
    record = json.dumps({"booth_id": "IN-HP-D01-A01-M01-S01-B001", "name": ""}).encode()
    assert seal(record) == (record, None) and seal(None) == (None, None)
