"""The HMAC key: from the settings, or in development one random key made once on disk.

Every OTP process of a machine (the service, a test's service, a restart) must hash with the
same key, or a code issued by one is refused by another. So the development key is created
atomically: written to a private temporary file, then hard-linked into place, which fails if
another process got there first; everyone then reads the one file that won.
"""

from otp.settings import SECRET_NAME, OtpSettings
from shared.secrets import configured_key, development_key

__all__ = ["development_key", "hmac_key"]


def hmac_key(settings: OtpSettings) -> bytes:
    development = settings.state_dir / "otp" / "hmac.key" if settings.environment == "development" else None
    secret = settings.hmac_secret.get_secret_value() if settings.hmac_secret is not None else None
    return configured_key(secret, settings.hmac_secret_file, development=development, what=SECRET_NAME)
