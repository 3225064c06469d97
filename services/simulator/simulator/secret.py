"""The webhook signing key: from the settings, or in development one random key on disk that the
notifier reads too (shared.secrets makes it atomically, so whichever process starts first makes it)."""

from pathlib import Path

from shared.secrets import configured_key

DEVELOPMENT_FILE = Path("notifier") / "provider-webhook.key"


def webhook_key(*, secret: str | None, secret_file: Path | None, environment: str, state_dir: Path) -> bytes:
    development = state_dir / DEVELOPMENT_FILE if environment in ("development", "test") else None
    return configured_key(secret, secret_file, development=development, what="the webhook secret")
