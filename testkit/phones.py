"""Phone numbers for tests that wait for a message at the provider simulator.

The simulator refuses a share of numbers for good on each channel (`SIMULATOR_PERMANENT_FAILURE_
SHARE`, 1 % by default), as real networks refuse dead or ported numbers: a code to such a number
on SMS fails, is dead-lettered and never appears in `GET /v1/messages`. A test that draws a random
number and waits for its message therefore failed about once in fifty runs; these numbers are
drawn among those the simulator accepts, asking the simulator's own rule."""

from __future__ import annotations

import random
from functools import cache

from simulator.domain import Fates
from simulator.settings import SimulatorSettings

CHANNELS = ("sms", "whatsapp")


@cache
def _fates(share: float | None = None) -> Fates:
    """The simulator's rule with a share of numbers refused (by default the platform's, read
    from the same environment)."""
    if share is None:
        share = SimulatorSettings().permanent_failure_share
    return Fates(transient=0.0, permanent=share, rng=random.Random(0))


def deliverable(e164: str, refused_share: float | None = None) -> bool:
    """Whether the simulator would ever accept a message to this number, on every channel."""
    fates = _fates(refused_share)
    return all(fates.refusal(channel, e164) is None for channel in CHANNELS)


def indian_mobile(spaced: bool = True, refused_share: float | None = None) -> str:
    """A random Indian mobile number the simulator delivers to (`+91 9xxxxxxxxx` if `spaced`).
    `refused_share`: a test's own simulator's SIMULATOR_PERMANENT_FAILURE_SHARE, if it sets one."""
    while True:
        digits = f"9{random.randrange(10**9):09d}"
        if deliverable(f"+91{digits}", refused_share):
            return f"+91 {digits}" if spaced else f"+91{digits}"
