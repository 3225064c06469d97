from shared.settings import PlatformSettings


class NotifierSettings(PlatformSettings):
    """Settings of the notifier service (environment variables, local defaults)."""

    service_name: str = "notifier"
