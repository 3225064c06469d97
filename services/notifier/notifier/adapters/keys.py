"""The notifier's HMAC keys: from the settings, or in development a random key made once on disk.

The provider-webhook key's development file is the one the local simulator signs with, so the
two agree without configuration. Files are created atomically (temporary file, then a hard link
that fails if another process won), so concurrent starts all read the same key.
"""

from pathlib import Path

from pydantic import SecretStr

from notifier.settings import NotifierSettings
from shared.secrets import development_key

PLACEHOLDERS = {"", "changeme", "change-me", "secret", "development", "test", "xxx"}
MIN_BYTES = 32


def webhook_key(settings: NotifierSettings) -> bytes:
    return _key(settings.webhook_secret, settings.webhook_secret_file, settings,
                settings.state_dir / "notifier" / "provider-webhook.key")


def ack_key(settings: NotifierSettings) -> bytes:
    return _key(settings.ack_secret, settings.ack_secret_file, settings, settings.state_dir / "notifier" / "ack.key")


def _key(secret: SecretStr | None, secret_file: Path | None, settings: NotifierSettings, development: Path) -> bytes:
    if secret is not None:
        return checked(secret.get_secret_value().encode())
    if secret_file is not None:
        return checked(secret_file.read_bytes().strip())
    if settings.environment not in ("development", "test"):
        raise RuntimeError("no key configured")  # settings refuse this too; never fall through
    return development_key(development)


def checked(secret: bytes) -> bytes:
    if secret.strip().lower().decode(errors="replace") in PLACEHOLDERS or len(secret) < MIN_BYTES:
        raise ValueError(f"a notifier key must be a random value of at least {MIN_BYTES} bytes")
    return secret
