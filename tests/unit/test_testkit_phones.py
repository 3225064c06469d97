"""The numbers e2e tests wait on are ones the provider simulator delivers to: a random number was
refused for good on SMS about once in a hundred draws, and the test waiting for its code failed."""

import random

from simulator.domain import Fates
from testkit.phones import indian_mobile

SHARE = 0.01  # the simulator's default SIMULATOR_PERMANENT_FAILURE_SHARE


def test_numbers_drawn_for_e2e_tests_are_never_refused_for_good_by_the_simulator():
    fates = Fates(transient=0.0, permanent=SHARE, rng=random.Random(0))
    drawn = [indian_mobile(spaced=False) for _ in range(3000)]
    refused = [n for n in drawn if fates.refusal("sms", n) or fates.refusal("whatsapp", n)]
    assert refused == [] and len(set(drawn)) > 2900
    assert all(n.startswith("+919") and len(n) == 13 for n in drawn)


def test_a_spaced_number_is_written_as_organisers_type_it():
    assert indian_mobile().startswith("+91 9")


def test_a_test_whose_simulator_refuses_more_numbers_draws_among_those_it_accepts():
    """A module's simulator at 3 % refused a number drawn at the platform's 1 %: a flaky wait."""
    fates = Fates(transient=0.0, permanent=0.03, rng=random.Random(0))
    drawn = [indian_mobile(spaced=False, refused_share=0.03) for _ in range(3000)]
    assert not [n for n in drawn if fates.refusal("sms", n) or fates.refusal("whatsapp", n)]
