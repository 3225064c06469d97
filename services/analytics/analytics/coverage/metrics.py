"""Prometheus metrics of the coverage stream. Coverage gauges are per state only: booths and
lower units are ~10 lakh label values, which no Prometheus should hold; the API has them."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "sangathan_analytics_events",
    "Input events by type and outcome (counted, duplicate, ignored, dead_lettered)",
    ["type", "outcome"],
)
UNKNOWN_UNITS = Counter(
    "sangathan_analytics_unknown_units",
    "Events naming a booth or unit the org registry does not hold (dead-lettered)",
    ["type"],
)
PARTIALS_PUBLISHED = Counter(
    "sangathan_analytics_partials_published", "Partial records this worker published"
)
COVERAGE_PUBLISHED = Counter(
    "sangathan_analytics_coverage_updates_published", "coverage-updated events published"
)
PARTITIONS_OWNED = Gauge(
    "sangathan_analytics_partitions_owned", "Booth-keyed partitions this worker counts"
)
VISIBILITY_LAG = Histogram(
    "sangathan_analytics_visibility_lag_seconds",
    "From an appointment event's time to its partial being published "
    "(visible to every worker's API)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)

_STATE_GAUGES = {
    name: Gauge(f"sangathan_coverage_{name}", help_, ["state"])
    for name, help_ in {
        "booths_total": "Booths in the state (org registry)",
        "booths_with_verified_president": "Booths whose president has verified",
        "booths_complete": "Booths whose verified team meets the team rule",
        "booths_with_whatsapp_pramukh": "Booths with a verified WhatsApp pramukh",
        "verified_appointees": "Verified booth-team members",
    }.items()
}
DEADLINE_RATE = Gauge(
    "sangathan_coverage_deadline_rate_per_hour",
    "Booths reaching the deadline's measure per hour, over the rate window",
    ["state"],
)
DEADLINE_REMAINING = Gauge(
    "sangathan_coverage_deadline_remaining_booths", "Booths still to reach the measure", ["state"]
)
DEADLINE_TARGET = Gauge(
    "sangathan_coverage_deadline_target_timestamp_seconds", "The state's deadline", ["state"]
)
DEADLINE_PROJECTED = Gauge(
    "sangathan_coverage_deadline_projected_timestamp_seconds",
    "When the recent rate completes the state (NaN: no progress in the window, or met)",
    ["state"],
)
DEADLINE_ON_TRACK = Gauge(
    "sangathan_coverage_deadline_on_track", "1 if the projection meets the deadline", ["state"]
)


def set_state(state: str, booths_total: int, counts) -> None:
    _STATE_GAUGES["booths_total"].labels(state).set(booths_total)
    for name in counts.REPORTED:
        _STATE_GAUGES[name].labels(state).set(getattr(counts, name))


def set_deadline(state: str, progress) -> None:
    DEADLINE_RATE.labels(state).set(progress.rate_per_hour)
    DEADLINE_REMAINING.labels(state).set(progress.remaining)
    DEADLINE_TARGET.labels(state).set(progress.target.by.timestamp())
    projected = progress.projected_completion
    DEADLINE_PROJECTED.labels(state).set(projected.timestamp() if projected else float("nan"))
    DEADLINE_ON_TRACK.labels(state).set(int(progress.on_track))
