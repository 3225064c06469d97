"""The meetings service's keys: from the settings (a mounted Secret in production), or in
development and tests a random key made once on disk under .state/meetings."""

from meetings.settings import MeetingsSettings
from shared.crypto.fields import FieldCipher, keyring
from shared.secrets import PROVIDER_WEBHOOK_DEVELOPMENT_FILE


def link_key(settings: MeetingsSettings) -> bytes:
    return settings.key(
        settings.link_secret,
        settings.link_secret_file,
        development_file="meetings/link.key",
        what="the join-link key",
    )


def phone_cipher(settings: MeetingsSettings) -> FieldCipher:
    raw = settings.key(
        settings.personal_data_keys,
        settings.personal_data_keys_file,
        development_file="meetings/personal-data.keys",
        what="the meetings personal-data keyring",
    )
    return keyring(raw, "the meetings personal-data keyring")


def webhook_key(settings: MeetingsSettings) -> bytes:
    """The conference provider signs its webhooks with it, and keys dial-in callers' hashes."""
    return settings.key(
        settings.webhook_secret,
        settings.webhook_secret_file,
        development_file=PROVIDER_WEBHOOK_DEVELOPMENT_FILE,
        what="the provider webhook secret",
    )
