"""The notifier's HMAC keys: from the settings, or in development a random key made once on disk.

The provider-webhook key's development file is the one the local simulator signs with, so the
two agree without configuration (shared.secrets makes it atomically).
"""

from pathlib import Path

from pydantic import SecretStr

from notifier.settings import NotifierSettings
from shared.crypto.fields import VersionedIndex, parse_keys
from shared.secrets import checked_key, configured_key

WHAT = "a notifier key"


def webhook_key(settings: NotifierSettings) -> bytes:
    return _key(settings.webhook_secret, settings.webhook_secret_file, settings, "provider-webhook.key")


def ack_key(settings: NotifierSettings) -> bytes:
    return _key(settings.ack_secret, settings.ack_secret_file, settings, "ack.key")


def optout_index(settings: NotifierSettings) -> VersionedIndex:
    raw = _key(settings.optout_secret, settings.optout_secret_file, settings, "optout.keys")
    return VersionedIndex(*parse_keys(raw, "the opt-out keyring"))


def _key(secret: SecretStr | None, secret_file: Path | None, settings: NotifierSettings, name: str) -> bytes:
    development = settings.state_dir / "notifier" / name if settings.environment in ("development", "test") else None
    return configured_key(secret.get_secret_value() if secret else None, secret_file, development=development, what=WHAT)


def checked(secret: bytes) -> bytes:
    return checked_key(secret, WHAT)
