"""The webhook signing key: from the settings, or in development one random key on disk that the
notifier reads too (created atomically, so whichever process starts first makes it)."""

import os
import secrets
from pathlib import Path

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


def development_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won: use its key
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


def _checked(secret: bytes) -> bytes:
    if secret.strip().lower().decode(errors="replace") in PLACEHOLDERS or len(secret) < MIN_BYTES:
        raise ValueError(f"the webhook secret must be a random value of at least {MIN_BYTES} bytes")
    return secret
