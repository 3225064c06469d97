from shared.settings import PlatformSettings


class AppointmentsSettings(PlatformSettings):
    """Settings of the appointments service (environment variables, local defaults)."""

    service_name: str = "appointments"
