"""The HMAC key: from the settings, or in development one random key made once on disk.

Every OTP process of a machine (the service, a test's service, a restart) must hash with the
same key, or a code issued by one is refused by another. So the development key is created
atomically: written to a private temporary file, then hard-linked into place, which fails if
another process got there first; everyone then reads the one file that won.
"""

import os
import secrets
from pathlib import Path

from otp.settings import OtpSettings, check_secret

KEY_BYTES = 32


def hmac_key(settings: OtpSettings) -> bytes:
    if settings.hmac_secret is not None:
        return check_secret(settings.hmac_secret.get_secret_value().encode())
    if settings.hmac_secret_file is not None:
        return check_secret(settings.hmac_secret_file.read_bytes().strip())
    if settings.environment != "development":  # settings refuse this too; never fall through
        raise RuntimeError("no OTP HMAC secret configured")
    return development_key(settings.state_dir / "otp" / "hmac.key")


def development_key(path: Path) -> bytes:
    """The key in `path` (mode 0600), created with a random value if it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(KEY_BYTES))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
