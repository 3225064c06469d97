"""The OTP service, as the appointments service calls it: check a code with our own service
token."""

from pathlib import Path

import httpx

from appointments.ports import OtpRejected, OtpThrottled, OtpUnavailable
from shared.auth.keys import token_file


class OtpClient:
    def __init__(self, base_url: str, token_path: Path, timeout_s: float = 5.0):
        self.token = token_file(token_path)
        # One pooled client: a verification reuses a kept-alive connection instead of a new one.
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)

    def verify(self, *, request_id: str, appointment_id: str, code: str, on_behalf_of: str) -> None:
        """`on_behalf_of` names the organiser, so the OTP service budgets each one, not only us."""
        body = {
            "request_id": request_id,
            "appointment_id": appointment_id,
            "code": code,
            "on_behalf_of": on_behalf_of,
        }
        try:
            response = self.http.post(
                "/v1/verifications",
                json=body,
                headers={"Authorization": f"Bearer {self.token.get()}"},
            )
        except (httpx.HTTPError, OSError) as exc:
            raise OtpUnavailable(f"the OTP service did not answer: {type(exc).__name__}") from None
        if response.status_code == 200:
            return
        if response.status_code == 422 and response.json().get("type", "").endswith(
            "/otp-rejected"
        ):
            raise OtpRejected()
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            raise OtpThrottled(int(retry_after) if retry_after.isdigit() else 60)
        raise OtpUnavailable(f"the OTP service answered {response.status_code}")

    def close(self) -> None:
        self.http.close()
