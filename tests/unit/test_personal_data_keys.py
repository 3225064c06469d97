"""Names and phones sealed per field: rotation by key id, integrity, and the key rule in
production."""

import pytest

from appointments.adapters.personal import personal_data
from appointments.domain import Person
from appointments.settings import AppointmentsSettings
from shared.crypto.fields import PhoneIndex, UnreadableField, keyring

OLD, NEW = "old:" + "a" * 43, "new:" + "b" * 43
PERSON = Person(name="Sunita Devi", phone="+919876543210", gender="female", channel="whatsapp")


def test_after_rotation_new_writes_use_the_new_key_and_old_fields_still_open():
    before, after = keyring(OLD.encode(), "keys"), keyring(f"{OLD}\n{NEW}\n".encode(), "keys")
    sealed_before = before.seal("Sunita Devi", "name")
    assert after.open(sealed_before, "name") == "Sunita Devi"
    assert after.seal("Sunita Devi", "name").startswith("pd1.new.")


def test_a_field_whose_key_was_dropped_is_refused_not_misread():
    sealed = keyring(OLD.encode(), "keys").seal("+919876543210", "phone")
    with pytest.raises(UnreadableField):
        keyring(NEW.encode(), "keys").open(sealed, "phone")


def test_a_sealed_phone_cannot_be_passed_off_as_a_name_or_altered():
    cipher = keyring(OLD.encode(), "keys")
    sealed = cipher.seal("+919876543210", "phone")
    with pytest.raises(UnreadableField):
        cipher.open(sealed, "name")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(UnreadableField):
        cipher.open(tampered, "phone")


def test_the_same_phone_seals_differently_each_time_but_indexes_the_same():
    cipher, index = keyring(OLD.encode(), "keys"), PhoneIndex(b"i" * 32)
    assert cipher.seal("+919876543210", "phone") != cipher.seal("+919876543210", "phone")
    assert index("+919876543210") == index("+919876543210") != index("+919876543211")
    assert index("+919876543210") != PhoneIndex(b"j" * 32)("+919876543210")


@pytest.mark.parametrize(
    "keys", ["k1:changeme", "k1:short", "changeme", "k1.x:" + "a" * 43, f"{OLD}\n{OLD}"]
)
def test_a_placeholder_short_or_malformed_keyring_is_refused(keys):
    with pytest.raises(ValueError):
        keyring(keys.encode(), "keys")


def test_production_refuses_to_start_without_personal_data_keys(tmp_path):
    settings = AppointmentsSettings(SANGATHAN_ENV="production", SANGATHAN_STATE=tmp_path)
    with pytest.raises(RuntimeError, match="not configured"):
        personal_data(settings)
    assert not list(tmp_path.iterdir()), "no development key is made outside development"


def test_development_makes_its_keys_once_and_every_process_reads_the_same(tmp_path):
    settings = AppointmentsSettings(SANGATHAN_ENV="development", SANGATHAN_STATE=tmp_path)
    first, second = personal_data(settings), personal_data(settings)
    assert second.person(first.person_doc(PERSON)) == PERSON
    assert first.index(PERSON.phone) == second.index(PERSON.phone)
