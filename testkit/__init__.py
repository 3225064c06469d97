"""Tooling shared by the tests and the benchmarks: real processes, topic tails, synthetic rollouts
and a stand-in recipients server. Never imported by the services; bench/ imports nothing from
tests/."""

import uuid


def random_suffix() -> str:
    """A random tail for a test's or a run's own database, topic or group: no run sees another's
    data."""
    return uuid.uuid4().hex[:10]
