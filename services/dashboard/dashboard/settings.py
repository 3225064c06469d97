from pydantic import Field

from shared import topics
from shared.settings import PlatformSettings


class DashboardSettings(PlatformSettings):
    """Settings of the HQ dashboard (environment variables, local defaults)."""

    service_name: str = "dashboard"
    # The coverage API the page's numbers come from; called with the signed-in organiser's token.
    analytics_url: str = Field("http://127.0.0.1:8004", validation_alias="ANALYTICS_URL")
    analytics_timeout_s: float = Field(10.0, gt=0, validation_alias="ANALYTICS_TIMEOUT_S")
    # The topic of coverage-updated events; the registry's by default, a scratch topic in tests.
    coverage_topic: str = Field(topics.COVERAGE.name, validation_alias="DASHBOARD_COVERAGE_TOPIC")
    # How long the browser keeps the session cookie; the token inside is checked on every request
    # and its own expiry still ends the session first.
    session_hours: float = Field(8.0, gt=0, le=24, validation_alias="DASHBOARD_SESSION_HOURS")

    @property
    def secure_cookie(self) -> bool:
        """Only over HTTPS outside development (the local platform serves plain HTTP on loopback)."""
        return self.environment != "development"
