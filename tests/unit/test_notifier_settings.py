"""Outside development the notifier refuses to start with what only suits a laptop: no webhook or
acknowledgement key, the local simulator's loopback address as the provider, no provider key, or
acknowledgement links pointing at loopback. Development and tests keep their defaults (the local
stack and the simulator need nothing set)."""

import pytest

from notifier.settings import NotifierSettings

KEY = "k" * 48
# What production needs, each test taking one thing away.
PRODUCTION = {
    "SANGATHAN_ENV": "production",
    "PROVIDER_WEBHOOK_SECRET_FILE": "/var/run/secrets/keys/webhook-secret",
    "NOTIFIER_ACK_SECRET_FILE": "/var/run/secrets/keys/ack-secret",
    "NOTIFIER_OPTOUT_SECRET_FILE": "/var/run/secrets/keys/optout-secret",
    "PROVIDER_URL": "https://api.provider.example/v1",
    "PROVIDER_API_KEY": KEY,
    "NOTIFIER_PUBLIC_URL": "https://links.sangathan.example",
}


def settings(**changes) -> NotifierSettings:
    values = {**PRODUCTION, **changes}
    return NotifierSettings(**{k: v for k, v in values.items() if v is not None})


@pytest.fixture(autouse=True)
def _no_outside_environment(monkeypatch):
    """The variables under test come from each test, not from whoever runs it."""
    for name in [
        *PRODUCTION,
        "PROVIDER_WEBHOOK_SECRET",
        "NOTIFIER_ACK_SECRET",
        "NOTIFIER_OPTOUT_SECRET",
    ]:
        monkeypatch.delenv(name, raising=False)


def test_production_with_keys_a_real_provider_and_its_key_is_accepted():
    chosen = settings()
    assert chosen.provider_url == "https://api.provider.example/v1"
    assert chosen.provider_api_key.get_secret_value() == KEY
    assert chosen.public_url == "https://links.sangathan.example"


def test_a_cluster_service_name_is_a_real_provider_address():
    assert (
        settings(PROVIDER_URL="http://provider-simulator:8005").provider_url
        == "http://provider-simulator:8005"
    )


@pytest.mark.parametrize(
    "missing, named",
    [
        ("PROVIDER_WEBHOOK_SECRET_FILE", "PROVIDER_WEBHOOK_SECRET"),
        ("NOTIFIER_ACK_SECRET_FILE", "NOTIFIER_ACK_SECRET"),
        ("NOTIFIER_OPTOUT_SECRET_FILE", "NOTIFIER_OPTOUT_SECRET"),
    ],
)
def test_production_without_a_key_is_refused(missing, named):
    with pytest.raises(ValueError, match=named):
        settings(**{missing: None})


@pytest.mark.parametrize(
    "url",
    [
        None,  # the default: the local simulator
        "http://127.0.0.1:8005",
        "http://127.9.9.9",
        "http://localhost:8005/",
        "https://LOCALHOST.",
        "http://api.localhost",
        "http://[::1]:8005",
        "http://0.0.0.0:8005",
        "provider.example/v1",
    ],
)
def test_production_refuses_a_provider_on_this_machine_or_with_no_host(url):
    with pytest.raises(ValueError, match="PROVIDER_URL.s host .* is this machine"):
        settings(PROVIDER_URL=url)


@pytest.mark.parametrize("key", [None, "", "   ", "changeme", "TEST"])
def test_production_refuses_a_missing_or_placeholder_provider_key(key):
    with pytest.raises(ValueError, match="set PROVIDER_API_KEY"):
        settings(PROVIDER_API_KEY=key)


@pytest.mark.parametrize(
    "url",
    [
        None,  # the default: the local notifier
        "http://127.0.0.1:8003",
        "https://localhost",
        "http://links.localhost",
        "http://[::1]:8003",
        "links.example/a",
    ],
)
def test_production_refuses_acknowledgement_links_on_this_machine_or_with_no_host(url):
    with pytest.raises(ValueError, match="NOTIFIER_PUBLIC_URL.s host .* is this machine"):
        settings(NOTIFIER_PUBLIC_URL=url)


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_tests_keep_the_local_simulator_and_need_no_keys(environment):
    chosen = NotifierSettings(SANGATHAN_ENV=environment)
    assert chosen.provider_url == "http://127.0.0.1:8005"
    assert chosen.public_url == "http://127.0.0.1:8003"
    assert chosen.provider_api_key is None and chosen.webhook_secret_file is None


def test_the_refusal_names_the_host_but_not_credentials_in_the_url():
    with pytest.raises(ValueError) as refused:
        settings(PROVIDER_URL="http://account:hunter2@127.0.0.1:8005")
    assert "'127.0.0.1'" in str(refused.value) and "hunter2" not in str(refused.value)


def test_a_refusal_does_not_quote_the_other_settings_it_was_given():
    with pytest.raises(ValueError) as refused:
        settings(
            PROVIDER_URL="http://localhost",
            NOTIFIER_ACK_SECRET_FILE=None,
            NOTIFIER_ACK_SECRET=KEY + "-ack-key",
        )
    assert "ack-key" not in str(refused.value)
