"""The webhook signing key: from the settings, or in development one random key on disk that the
notifier reads too (created atomically, so whichever process starts first makes it)."""

from pathlib import Path

from shared.secrets import development_key

DEVELOPMENT_FILE = Path("notifier") / "provider-webhook.key"
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "development", "test", "xxx"}
MIN_BYTES = 32


def webhook_key(*, secret: str | None, secret_file: Path | None, environment: str, state_dir: Path) -> bytes:
    if secret is not None:
        return _checked(secret.encode())
    if secret_file is not None:
        return _checked(secret_file.read_bytes().strip())
    if environment != "development" and environment != "test":
        raise RuntimeError("set PROVIDER_WEBHOOK_SECRET or PROVIDER_WEBHOOK_SECRET_FILE outside development")
    return development_key(state_dir / DEVELOPMENT_FILE)


def _checked(secret: bytes) -> bytes:
    if secret.strip().lower().decode(errors="replace") in PLACEHOLDERS or len(secret) < MIN_BYTES:
        raise ValueError(f"the webhook secret must be a random value of at least {MIN_BYTES} bytes")
    return secret
