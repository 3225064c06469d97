"""The notifier's HMAC keys: from the settings, or in development a random key made once on disk.

The provider-webhook key's development file is the one the local simulator signs with, so the
two agree without configuration (shared.secrets makes it atomically).
"""

from notifier.settings import NotifierSettings
from shared.crypto.fields import VersionedIndex, parse_keys
from shared.secrets import PROVIDER_WEBHOOK_DEVELOPMENT_FILE, checked_key

WHAT = "a notifier key"


def webhook_key(settings: NotifierSettings) -> bytes:
    return settings.key(
        settings.webhook_secret,
        settings.webhook_secret_file,
        development_file=PROVIDER_WEBHOOK_DEVELOPMENT_FILE,
        what=WHAT,
    )


def ack_key(settings: NotifierSettings) -> bytes:
    return settings.key(
        settings.ack_secret,
        settings.ack_secret_file,
        development_file="notifier/ack.key",
        what=WHAT,
    )


def optout_index(settings: NotifierSettings) -> VersionedIndex:
    raw = settings.key(
        settings.optout_secret,
        settings.optout_secret_file,
        development_file="notifier/optout.keys",
        what=WHAT,
    )
    return VersionedIndex(*parse_keys(raw, "the opt-out keyring"))


def checked(secret: bytes) -> bytes:
    return checked_key(secret, WHAT)
