import json
import logging

from shared.logging import configure_logging, get_logger, mask_phones


def test_phone_numbers_are_masked_in_any_spelling():
    for phone in ["+919812345678", "09812345678", "98123 45678", "+91 98123-45678"]:
        masked = mask_phones(f"appointee {phone} verified")
        assert "98123" not in masked, masked
        assert masked.endswith("78 verified")


def test_log_lines_are_json_and_never_carry_a_phone(capsys):
    configure_logging("test-service")
    get_logger("t").info(
        "sent code to +919812345678", fields={"to": "+919812345678", "booth": "IN-HP-D01"}
    )
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["service"] == "test-service"
    assert line["booth"] == "IN-HP-D01"
    assert "9812345678" not in json.dumps(line)
    logging.getLogger().handlers.clear()


def test_uuids_and_unit_ids_are_not_mistaken_for_phones():
    text = "appointment 835bcc28-de12-4a93-9312-548753ff2225 at IN-HP-D01-A01-M01-S01-B001"
    assert mask_phones(text) == text


def test_url_encoded_and_letter_adjacent_phones_are_masked():
    for text in [
        "GET /v1/messages?to=%2B919812345678&limit=1",
        "GET /v1/messages?to=%2b919812345678",
        "to=919812345678x",
        "phone9812345678 verified",
        "abc+919812345678def",
        "tel:+91-98123-45678;",
    ]:
        assert "98123" not in mask_phones(text) and "12345678" not in mask_phones(text), text


def test_dates_times_and_short_numbers_stay_readable():
    text = "2026-12-03T13:04:55 took 1234 ms, booth B001, 127.0.0.1:42042, order 12345678"
    assert mask_phones(text) == text
