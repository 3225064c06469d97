"""The OTP service refuses to run without a real HMAC secret outside development, and in
development every process on the machine agrees on one key made once."""

import os
import stat
from concurrent.futures import ProcessPoolExecutor

import pytest

from notifier.adapters.keys import webhook_key as notifier_webhook_key
from notifier.settings import NotifierSettings
from otp.adapters.keys import hmac_key
from otp.settings import OtpSettings
from shared.kafka.deadletters import dead_letter_seal
from shared.secrets import development_key
from shared.settings import PlatformSettings
from simulator.adapters.keys import webhook_key as simulator_webhook_key
from simulator.settings import SimulatorSettings

GOOD = "f" * 16 + "0123456789abcdef0123456789abcdef"


def test_in_production_a_missing_secret_is_refused():
    with pytest.raises(ValueError, match="OTP_HMAC_SECRET"):
        OtpSettings(SANGATHAN_ENV="production")


@pytest.mark.parametrize("environment", ["development", "test"])
def test_every_service_makes_its_development_keys_in_development_and_tests_alike(
    environment, tmp_path
):
    state = {"SANGATHAN_ENV": environment, "SANGATHAN_STATE": str(tmp_path)}
    assert len(hmac_key(OtpSettings(**state))) == 64
    signed_by = simulator_webhook_key(SimulatorSettings(**state))
    assert notifier_webhook_key(NotifierSettings(**state)) == signed_by, (
        "the simulator signs what the notifier checks"
    )
    assert dead_letter_seal(PlatformSettings(**state)).cipher is not None


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-random-3f9a"])
def test_outside_development_a_placeholder_or_short_secret_is_refused(secret):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        OtpSettings(SANGATHAN_ENV="production", OTP_HMAC_SECRET=secret)


def test_a_configured_secret_or_secret_file_is_the_key(tmp_path):
    assert hmac_key(OtpSettings(SANGATHAN_ENV="production", OTP_HMAC_SECRET=GOOD)) == GOOD.encode()
    path = tmp_path / "otp.key"
    path.write_text(GOOD + "\n")
    assert (
        hmac_key(OtpSettings(SANGATHAN_ENV="production", OTP_HMAC_SECRET_FILE=str(path)))
        == GOOD.encode()
    )
    path.write_text("changeme\n")
    with pytest.raises(ValueError):
        hmac_key(OtpSettings(SANGATHAN_ENV="production", OTP_HMAC_SECRET_FILE=str(path)))


def test_in_development_the_key_is_made_once_privately_under_the_state_folder(tmp_path):
    settings = OtpSettings(SANGATHAN_ENV="development", SANGATHAN_STATE=str(tmp_path))
    first = hmac_key(settings)
    path = tmp_path / "otp" / "hmac.key"
    assert len(first) == 64 and path.read_bytes().strip() == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert hmac_key(settings) == first, "a restart must keep the key"
    assert os.listdir(path.parent) == ["hmac.key"], "no temporary file is left behind"


def test_processes_creating_the_development_key_at_once_all_get_the_same_one(tmp_path):
    path = tmp_path / "otp" / "hmac.key"
    with ProcessPoolExecutor(4) as pool:
        keys = list(pool.map(development_key, [path] * 16))
    assert len(set(keys)) == 1 and keys[0] == path.read_bytes().strip()
