"""Appointees' mobile numbers: validated and normalised with libphonenumber, masked for display."""

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType


class InvalidPhone(ValueError):
    """Not a valid mobile number in an allowed region; the message never repeats the number."""


def normalise_mobile(raw: str, region: str = "IN") -> str:
    """`98765 43210`, `+91-98765-43210`, `098765 43210` -> `+919876543210` (E.164)."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except NumberParseException:
        raise InvalidPhone("not a phone number") from None
    if phonenumbers.region_code_for_number(number) != region:
        raise InvalidPhone(f"not a {region} number")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid number")
    if phonenumbers.number_type(number) not in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidPhone("not a mobile number (codes are sent by SMS or WhatsApp)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """`+919876543210` -> `+91******3210`: enough to recognise, not enough to call."""
    return e164[:3] + "*" * (len(e164) - 7) + e164[-4:]
