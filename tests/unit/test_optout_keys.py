"""Opt-outs are found whatever the provider's spelling of the number, and across key rotations."""

import pytest

from shared.crypto.fields import VersionedIndex
from shared.phones import to_e164


@pytest.mark.parametrize(
    "spelt",
    [
        "919876543210",
        "+91 98765-43210",
        "09876543210",
        "whatsapp:+919876543210",
        "9876543210",
        " +919876543210 ",
    ],
)
def test_a_providers_spelling_of_a_number_becomes_the_e164_recipients_are_sent_to(spelt):
    assert to_e164(spelt) == "+919876543210"


@pytest.mark.parametrize("junk", ["", "STOP", "12", "+1"])
def test_what_is_not_a_number_is_not_made_into_one(junk):
    assert to_e164(junk) is None


def test_an_opt_out_recorded_under_an_old_key_is_still_found_after_rotation():
    before = VersionedIndex({"v1": b"1" * 32}, "v1")
    after = VersionedIndex({"v1": b"1" * 32, "v2": b"2" * 32}, "v2")
    recorded = before.current("+919876543210")
    assert recorded.startswith("v1:") and recorded in after.every("+919876543210")
    assert after.current("+919876543210").startswith("v2:")
    assert recorded not in after.every("+919876543211")
