"""How appointments keeps people at rest: names and phones sealed, phones indexed by HMAC.

Everything that writes a person to MongoDB goes through `PersonalData`: the booth team's
appointments (name and phone sealed, the phone's index beside them), the phone inside an
outbox event waiting for the relay (`otp-requested` carries it to the OTP service, which must
send the code: the event on Kafka keeps it, on the OTP service's short-retention topic, but the
copy parked in the team document is sealed), and the recipient directory's entries (the phone
sealed inside the entry string; opened only when a fan-out asks for recipients).
A field written before encryption (plaintext) is still read, and sealed on the next save.
"""

from collections.abc import Iterable
from typing import Any

from appointments.domain import Person
from appointments.settings import AppointmentsSettings
from shared.crypto.fields import FieldCipher, PhoneIndex, is_sealed, keyring, sealed_with

NAME, PHONE = "name", "phone"


class PersonalData:
    def __init__(self, cipher: FieldCipher, index: PhoneIndex):
        self.cipher, self.index = cipher, index

    def person_doc(self, person: Person) -> dict[str, Any]:
        if not person.phone:  # erased: nothing left to seal or to find it by
            return {
                "name": "",
                "phone": "",
                "phone_index": None,
                "gender": person.gender,
                "channel": person.channel,
                "locale": person.locale,
            }
        return {
            "name": self.cipher.seal(person.name, NAME),
            "phone": self.seal_phone(person.phone),
            "phone_index": self.index(person.phone),
            "gender": person.gender,
            "channel": person.channel,
            "locale": person.locale,
        }

    def person(self, doc: dict[str, Any]) -> Person:
        return Person(
            name=self._open(doc["name"], NAME),
            phone=self.open_phone(doc["phone"]),
            gender=doc["gender"],
            channel=doc["channel"],
            locale=doc["locale"],
        )

    def seal_phone(self, phone: str) -> str:
        return self.cipher.seal(phone, PHONE)

    def open_phone(self, value: str) -> str:
        return self._open(value, PHONE)

    def sealed_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [_with_phone(e, self.seal_phone) for e in events]

    def opened_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [_with_phone(e, self.open_phone) for e in events]

    def stale(self, stored: Iterable[str]) -> bool:
        """Whether any of these stored fields is plaintext or sealed under a key that is not
        current."""
        return any(value and sealed_with(value) != self.cipher.current for value in stored)

    def _open(self, value: str, purpose: str) -> str:
        return self.cipher.open(value, purpose) if is_sealed(value) else value


def _with_phone(event: dict[str, Any], change) -> dict[str, Any]:
    phone = event["data"].get(PHONE)
    return event if phone is None else {**event, "data": {**event["data"], PHONE: change(phone)}}


def personal_data(settings: AppointmentsSettings) -> PersonalData:
    """The keys from settings (a mounted Secret in production); development keys on disk
    otherwise."""
    fields = settings.key(
        settings.personal_data_keys,
        settings.personal_data_keys_file,
        development_file="appointments/personal-data.keys",
        what="the personal-data keyring",
    )
    index = settings.key(
        settings.phone_index_key,
        settings.phone_index_key_file,
        development_file="appointments/phone-index.key",
        what="the phone index key",
    )
    return PersonalData(keyring(fields, "the personal-data keyring"), PhoneIndex(index))
