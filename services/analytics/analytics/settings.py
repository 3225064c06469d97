from pathlib import Path

from pydantic import Field

from shared.settings import PlatformSettings


class AnalyticsSettings(PlatformSettings):
    """Settings of the analytics worker (environment variables, local defaults)."""

    service_name: str = "analytics"
    # Faust's own web server serves the coverage API, health and metrics; loopback by default.
    web_bind: str = Field("127.0.0.1", validation_alias="ANALYTICS_WEB_BIND")
    web_port: int = Field(8004, validation_alias="ANALYTICS_WEB_PORT")
    # Table state and offsets of this worker; tables are rebuilt from changelog topics.
    data_dir: Path = Field(Path(".state/analytics"), validation_alias="ANALYTICS_DATA_DIR")
