"""How a long-running service's Python collects cyclic garbage.

CPython collects its youngest generation after every 700 new container objects; a service
handling hundreds of requests a second makes that many in a few requests, so most collections
walk objects that die young anyway. What start-up made (modules, the app, settings, caches)
lives as long as the process, so it is frozen out of every later collection (a full collection
during a state's invitations then walks only what they made, not ~100,000 objects more:
bench/meetings_invite_ops.py, 30,000 invitees, 150 ms of CPU in full collections, 45 ms frozen).
"""

from __future__ import annotations

import gc

# 50,000: the reports' answer path spent ~10 % less CPU per answer (bench/reports_ops.py
# --via http, 545 -> 490 us); the generations above keep CPython's 10x steps.
YOUNG_GENERATION_THRESHOLD = 50_000


def settle_after_startup() -> None:
    """Freeze what start-up made and collect the young generation less often."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
