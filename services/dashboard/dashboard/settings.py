from pathlib import Path

from pydantic import Field, model_validator

from shared import topics
from shared.settings import PlatformSettings


class DashboardSettings(PlatformSettings):
    """Settings of the HQ dashboard (environment variables, local defaults)."""

    service_name: str = "dashboard"
    # The coverage API the page's numbers come from; called with tokens exchanged for each viewer.
    analytics_url: str = Field("http://127.0.0.1:8004", validation_alias="ANALYTICS_URL")
    analytics_timeout_s: float = Field(10.0, gt=0, validation_alias="ANALYTICS_TIMEOUT_S")
    # The topic of coverage-updated events; the registry's by default, a scratch topic in tests.
    coverage_topic: str = Field(topics.COVERAGE.name, validation_alias="DASHBOARD_COVERAGE_TOPIC")
    # The topic of form-published events the reports view lists its forms from.
    forms_topic: str = Field(topics.REPORT_FORMS.name, validation_alias="DASHBOARD_FORMS_TOPIC")
    # How often a page watching a running meeting has its reach asked of analytics (its counts
    # live in analytics' tables, which publish no change stream of them).
    reach_interval_s: float = Field(
        2.0, ge=0.2, le=60, validation_alias="DASHBOARD_REACH_INTERVAL_S"
    )
    # The longest a session lasts; the organiser's token's own expiry ends it sooner.
    session_hours: float = Field(8.0, gt=0, le=24, validation_alias="DASHBOARD_SESSION_HOURS")
    # Whether browsers reach the dashboard over HTTPS: then the session cookie is `__Host-` and
    # Secure. Always in production; by default not in development, whose local platform serves
    # plain HTTP on loopback (where a client such as httpx never sends a Secure cookie back).
    https: bool | None = Field(None, validation_alias="DASHBOARD_HTTPS")
    # The private key the dashboard signs its exchanged, read-only tokens for analytics with
    # (shared/auth/exchange.py); a local one is made in development and tests.
    exchange_key_file: Path | None = Field(None, validation_alias="DASHBOARD_EXCHANGE_KEY_FILE")

    @model_validator(mode="after")
    def _production_is_https(self) -> "DashboardSettings":
        if self.environment == "production" and self.https is False:
            raise ValueError(
                "DASHBOARD_HTTPS=false is refused in production: "
                "its cookie is always __Host- and Secure"
            )
        if self.environment == "production" and self.exchange_key_file is None:
            raise ValueError(
                "set DASHBOARD_EXCHANGE_KEY_FILE (the dashboard's signing key) in production"
            )
        return self

    @property
    def secure_cookie(self) -> bool:
        """HTTPS unless said otherwise; plain HTTP by default only in development."""
        return self.https if self.https is not None else self.environment != "development"
