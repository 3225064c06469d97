"""Development keys: one random key per purpose, made once on disk for every local process.

Several processes of a machine (a service, a test's copy of it, a restart, the simulator and
the notifier) must agree on a key. So it is written to a private temporary file and hard-linked
into place, which fails if another process got there first; everyone then reads the file that
won. Outside development, keys come from settings (a secret or a mounted file), never from here.

`configured_key` is the one rule every service's keys follow: the setting, else its file, else
(development and tests only) the development key; a placeholder or a short key is refused.
Services reach it through `PlatformSettings.key`, which decides where development keys may be made.
"""

import os
import secrets
from pathlib import Path

# Values people put in a setting meaning "fill me in": refused as keys anywhere but development.
PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "otp-secret", "development", "test", "xxx"}
)
MIN_KEY_BYTES = 32
# The environments that make their own keys on disk; production reads every key from settings.
DEVELOPMENT_KEY_ENVIRONMENTS = frozenset({"development", "test"})
# The provider webhook's development key: the notifier checks with it, the local simulator signs.
PROVIDER_WEBHOOK_DEVELOPMENT_FILE = "notifier/provider-webhook.key"


def is_placeholder(value: str) -> bool:
    return value.strip().lower() in PLACEHOLDERS


def checked_key(secret: bytes, what: str) -> bytes:
    """The key itself, or ValueError if it is a placeholder or too short to resist guessing."""
    if is_placeholder(secret.decode(errors="replace")) or len(secret) < MIN_KEY_BYTES:
        raise ValueError(f"{what} must be a random value of at least {MIN_KEY_BYTES} bytes")
    return secret


def configured_key(
    secret: str | None, secret_file: Path | None, *, development: Path | None, what: str
) -> bytes:
    """The key from its setting or its file; without either, the development key at `development`
    (None outside development and tests: then a missing key is an error, never a made-up one)."""
    if secret is not None:
        return checked_key(secret.encode(), what)
    if secret_file is not None:
        return checked_key(secret_file.read_bytes().strip(), what)
    if development is None:
        raise RuntimeError(f"{what} is not configured; set it (or its _FILE) outside development")
    return development_key(development)


def development_key(path: Path, nbytes: int = 32) -> bytes:
    """The key in `path` (mode 0600), created with a random value if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(nbytes))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
