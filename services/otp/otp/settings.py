from shared.settings import PlatformSettings


class OtpSettings(PlatformSettings):
    """Settings of the OTP service (environment variables, local defaults)."""

    service_name: str = "otp"
