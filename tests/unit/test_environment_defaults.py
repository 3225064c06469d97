"""A service whose environment nobody named runs as production and refuses development's
shortcuts; the local platform (`make up`, `make test`) names development itself."""

import sys

import pytest
from pydantic import ValidationError

from testkit.processes import ROOT

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402

SECRETS = [
    "OTP_HMAC_SECRET",
    "OTP_HMAC_SECRET_FILE",
    "PROVIDER_WEBHOOK_SECRET",
    "PROVIDER_WEBHOOK_SECRET_FILE",
    "NOTIFIER_ACK_SECRET",
    "NOTIFIER_ACK_SECRET_FILE",
    "PROVIDER_URL",
    "PROVIDER_API_KEY",
    "DASHBOARD_EXCHANGE_KEY_FILE",
    "DASHBOARD_HTTPS",
]


@pytest.fixture
def unnamed(monkeypatch):
    """No SANGATHAN_ENV and no secrets, as a deployment that forgot them would start."""
    for name in ["SANGATHAN_ENV", *SECRETS]:
        monkeypatch.delenv(name, raising=False)


def test_every_settings_class_defaults_to_production(unnamed):
    from analytics.settings import AnalyticsSettings
    from appointments.settings import AppointmentsSettings
    from dashboard.settings import DashboardSettings
    from shared.settings import PlatformSettings
    from simulator.settings import SimulatorSettings

    for settings in (PlatformSettings, AppointmentsSettings, AnalyticsSettings, SimulatorSettings):
        assert settings().environment == "production", settings.__name__
    dashboard = DashboardSettings(DASHBOARD_EXCHANGE_KEY_FILE="/run/secrets/exchange.pem")
    assert dashboard.environment == "production"
    assert dashboard.secure_cookie, "a production session cookie is Secure (and __Host-)"


def test_production_by_default_refuses_missing_secrets_and_the_readable_otp_sink(unnamed, tmp_path):
    import redis

    from dashboard.settings import DashboardSettings
    from notifier.settings import NotifierSettings
    from otp.bootstrap import bootstrap
    from otp.settings import OtpSettings
    from simulator.adapters.keys import webhook_key
    from simulator.settings import SimulatorSettings

    with pytest.raises(ValidationError, match="OTP_HMAC_SECRET"):
        OtpSettings()
    with pytest.raises(ValidationError, match="outside development"):
        NotifierSettings()
    with pytest.raises(ValidationError, match="DASHBOARD_EXCHANGE_KEY_FILE"):
        DashboardSettings()
    with pytest.raises(RuntimeError, match="webhook secret"):
        webhook_key(SimulatorSettings(SANGATHAN_STATE=str(tmp_path)))
    keyed = OtpSettings(OTP_HMAC_SECRET="k" * 64)
    with pytest.raises(RuntimeError, match="dev-sink"):
        bootstrap(keyed, client=redis.Redis(), publisher=object(), consume=False)


def test_the_local_platform_names_development_for_every_process_it_starts():
    started = [c for c in stack.services() if c.name != "prometheus"]
    assert {c.name for c in started} >= {
        "simulator",
        "appointments",
        "otp",
        "notifier",
        "analytics",
        "dashboard",
    }
    for component in started:
        assert component.env.get("SANGATHAN_ENV") == "development", component.name


def test_a_kraft_cluster_id_never_starts_with_a_dash_that_kafka_storage_would_read_as_an_option(
    monkeypatch,
):
    import uuid

    first = uuid.UUID(bytes=b"\xfb" + bytes(15))  # base64url "-w...": the unlucky 1 in 64
    draws = iter([first, uuid.UUID(int=1)])
    monkeypatch.setattr(stack.uuid, "uuid4", lambda: next(draws))
    made = stack.cluster_id()
    assert not made.startswith("-") and len(made) == 22
