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


def test_link_tokens_are_blanked_in_any_message(capsys):
    access = logging.getLogger("uvicorn.access")
    access.propagate = True  # access logs on, whatever an earlier test left
    configure_logging("test")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/a/eyJ0.abc-_9?x=1", "1.1", 200)
    get_logger("t").info("opened /j/k3Y.sig, https://h.in:8/r/tok_en; kept /v1/a/b and /x/y")
    out = capsys.readouterr().err
    assert "eyJ0" not in out and "k3Y" not in out and "tok_en" not in out
    assert "/a/<token>?x=1" in out and "/j/<token>" in out and "//h.in:8/r/<token>" in out
    assert "/v1/a/b" in out and "/x/y" in out


def test_uvicorns_no_access_log_is_left_switched_off():
    access = logging.getLogger("uvicorn.access")
    access.handlers[:], access.propagate = [], False  # what --no-access-log leaves
    configure_logging("test")
    assert access.propagate is False
    access.propagate = True  # access logs on (uvicorn's own handler moved to ours)
    access.addHandler(logging.NullHandler())
    configure_logging("test")
    assert access.propagate is True and access.handlers == []
