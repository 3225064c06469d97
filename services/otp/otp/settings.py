"""Settings of the OTP service: every limit and the HMAC secret, from the environment.

The defaults follow NIST SP 800-63B and OWASP ASVS V2.7 for out-of-band codes: 6 digits from
a CSPRNG (about 20 bits), valid 10 minutes, 5 wrong tries, 5 sends per phone per 10 minutes.
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.auth.keys import LOCAL_TOKENS
from shared.secrets import checked_key
from shared.settings import PlatformSettings

SECRET_NAME = "the OTP HMAC secret"


class OtpSettings(PlatformSettings):
    """Settings of the OTP service (environment variables, local defaults)."""

    service_name: str = "otp"

    # The code.
    code_digits: int = Field(6, ge=6, le=10, validation_alias="OTP_CODE_DIGITS")
    code_ttl_s: int = Field(600, ge=30, le=600, validation_alias="OTP_CODE_TTL_S")
    max_attempts: int = Field(5, ge=1, le=10, validation_alias="OTP_MAX_ATTEMPTS")
    # Sending: per phone, a sliding window and a pause between two codes.
    send_limit: int = Field(5, ge=1, validation_alias="OTP_SEND_LIMIT")
    send_window_s: int = Field(600, ge=1, validation_alias="OTP_SEND_WINDOW_S")
    resend_cooldown_s: int = Field(30, ge=0, validation_alias="OTP_RESEND_COOLDOWN_S")
    # Only these country prefixes get a code (SMS pumping goes to premium foreign numbers).
    allowed_prefixes: Annotated[tuple[str, ...], NoDecode] = Field(
        ("+91",), validation_alias="OTP_ALLOWED_PREFIXES"
    )
    # Verifying: tries per calling principal (a service) per minute, all codes together.
    verify_limit_per_minute: int = Field(1200, ge=1, validation_alias="OTP_VERIFY_LIMIT_PER_MINUTE")
    # ... and per person a service acts for (`on_behalf_of`: an organiser), so no one organiser
    # spends the budget every organiser shares.
    verify_limit_per_user_per_minute: int = Field(
        60, ge=1, validation_alias="OTP_VERIFY_LIMIT_PER_USER_PER_MINUTE"
    )

    # The HMAC key codes and phones are hashed with: the value, or a file holding it.
    hmac_secret: SecretStr | None = Field(None, validation_alias="OTP_HMAC_SECRET")
    hmac_secret_file: Path | None = Field(None, validation_alias="OTP_HMAC_SECRET_FILE")

    # Where codes go: the local sink (keeps codes readable, so bootstrap refuses it in production)
    # or the notifier's urgent lane (which in development also copies them to the sink).
    delivery: Literal["dev-sink", "notifier"] = Field("dev-sink", validation_alias="OTP_DELIVERY")
    notifier_url: str = Field("http://127.0.0.1:8003", validation_alias="NOTIFIER_URL")
    notifier_token_file: Path = Field(LOCAL_TOKENS / "otp.jwt", validation_alias="OTP_TOKEN_FILE")
    notifier_timeout_s: float = Field(5.0, gt=0, validation_alias="NOTIFIER_TIMEOUT_S")
    dev_sink_maxlen: int = Field(1000, ge=10, validation_alias="OTP_DEV_SINK_MAXLEN")
    dev_sink_ttl_s: int = Field(3600, ge=60, validation_alias="OTP_DEV_SINK_TTL_S")

    redis_prefix: str = Field("otp:", validation_alias="OTP_REDIS_PREFIX")
    # How long a verification waits for Kafka to take its event before answering 503.
    publish_timeout_s: float = Field(5.0, gt=0, validation_alias="OTP_PUBLISH_TIMEOUT_S")
    # A benchmark's own OTP process answers verifications only: it must neither take the
    # platform's otp-requests (it hashes with another key) nor feed its outcomes to appointments.
    consume: bool = Field(True, validation_alias="OTP_CONSUME")
    results_topic: str | None = Field(
        None, validation_alias="OTP_RESULTS_TOPIC"
    )  # None: the registry's

    @field_validator("allowed_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value):
        if isinstance(value, str):
            value = [p.strip() for p in value.split(",") if p.strip()]
        for prefix in value:
            if not (prefix.startswith("+") and prefix[1:].isdigit()):
                raise ValueError(f"{prefix!r} is not a country prefix such as +91")
        return tuple(value)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "OtpSettings":
        if self.makes_development_keys:
            return self  # a missing secret is made once under .state/otp (adapters.keys)
        if self.hmac_secret is None and self.hmac_secret_file is None:
            raise ValueError("set OTP_HMAC_SECRET or OTP_HMAC_SECRET_FILE outside development")
        if self.hmac_secret is not None:
            check_secret(self.hmac_secret.get_secret_value().encode())
        return self


def check_secret(secret: bytes) -> bytes:
    """The secret itself, or ValueError if it is a placeholder or too short to resist guessing."""
    return checked_key(secret, SECRET_NAME)
