"""The HMAC key: from the settings, or in development one random key made once on disk.

Every OTP process of a machine (the service, a test's service, a restart) must hash with the
same key, or a code issued by one is refused by another. So the development key is created
atomically: written to a private temporary file, then hard-linked into place, which fails if
another process got there first; everyone then reads the one file that won.
"""

from otp.settings import OtpSettings, check_secret
from shared.secrets import development_key

__all__ = ["development_key", "hmac_key"]


def hmac_key(settings: OtpSettings) -> bytes:
    if settings.hmac_secret is not None:
        return check_secret(settings.hmac_secret.get_secret_value().encode())
    if settings.hmac_secret_file is not None:
        return check_secret(settings.hmac_secret_file.read_bytes().strip())
    if settings.environment != "development":  # settings refuse this too; never fall through
        raise RuntimeError("no OTP HMAC secret configured")
    return development_key(settings.state_dir / "otp" / "hmac.key")


