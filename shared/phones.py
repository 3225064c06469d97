"""Phone numbers from outside (a provider's webhook, a reply) brought to E.164 with
libphonenumber."""

import phonenumbers
from phonenumbers import NumberParseException

CHANNEL_PREFIXES = ("whatsapp:", "tel:", "sms:")


def to_e164(raw: str, region: str = "IN") -> str | None:
    """`919876543210`, `+91 98765-43210`, `09876543210`, `whatsapp:+919876543210` ->
    `+919876543210`; None if no valid number can be read. Providers often drop the `+` of the
    country code."""
    text = raw.strip()
    for prefix in CHANNEL_PREFIXES:
        text = text.removeprefix(prefix)
    for candidate in (text,) if text.startswith("+") else (text, "+" + text):
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None
