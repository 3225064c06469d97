"""The HMAC key: from the settings, or in development and tests one random key made once on disk.

Every OTP process of a machine (the service, a test's service, a restart) must hash with the
same key, or a code issued by one is refused by another: shared.secrets makes the development
key atomically, so whichever process starts first makes it and everyone reads that one.
"""

from otp.settings import SECRET_NAME, OtpSettings


def hmac_key(settings: OtpSettings) -> bytes:
    return settings.key(
        settings.hmac_secret,
        settings.hmac_secret_file,
        development_file="otp/hmac.key",
        what=SECRET_NAME,
    )
