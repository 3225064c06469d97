"""The webhook signing key: from the settings, or in development and tests the random key on disk
that the notifier checks with (shared.secrets makes it atomically: whoever starts first makes it).
"""

from shared.secrets import PROVIDER_WEBHOOK_DEVELOPMENT_FILE
from simulator.settings import SimulatorSettings


def webhook_key(settings: SimulatorSettings) -> bytes:
    return settings.key(
        settings.webhook_secret,
        settings.webhook_secret_file,
        development_file=PROVIDER_WEBHOOK_DEVELOPMENT_FILE,
        what="the webhook secret",
    )
