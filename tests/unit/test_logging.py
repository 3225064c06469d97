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
    get_logger("t").info("sent code to +919812345678", fields={"to": "+919812345678", "booth": "IN-HP-D01"})
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["service"] == "test-service"
    assert line["booth"] == "IN-HP-D01"
    assert "9812345678" not in json.dumps(line)
    logging.getLogger().handlers.clear()


def test_uuids_and_unit_ids_are_not_mistaken_for_phones():
    text = "appointment 835bcc28-de12-4a93-9312-548753ff2225 at IN-HP-D01-A01-M01-S01-B001"
    assert mask_phones(text) == text
