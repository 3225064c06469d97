"""What callers ask of the OTP service."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SendCode:
    """From an otp-requested event. `phone` is personal data: never log it."""

    request_id: str
    appointment_id: str
    booth_id: str
    phone: str
    channel: str  # sms | whatsapp
    locale: str
    requested_at: float  # epoch seconds


@dataclass(frozen=True)
class VerifyCode:
    """From POST /v1/verifications. `caller` is the calling service's subject; `on_behalf_of`
    the organiser it acts for, if it says."""

    request_id: str
    appointment_id: str
    code: str
    caller: str
    on_behalf_of: str | None = None
