"""Prometheus metrics of meeting attendance: per state only (a meeting or a booth as a label
would be unbounded); the API has every unit and meeting. Input events are counted with
coverage's (sangathan_analytics_events_total, by type and outcome)."""

from prometheus_client import Gauge, Histogram

VISIBILITY_LAG = Histogram(
    "sangathan_analytics_attendance_visibility_lag_seconds",
    "From an attendance event's time to its partial being published "
    "(visible to every worker's API)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
_STATE_GAUGES = {
    name: Gauge(f"sangathan_meetings_{name}", help_, ["state"])
    for name, help_ in {
        "held": "Meetings ended that the state or a unit under it held",
        "in_progress": "Meetings started and not ended, held in the state",
        "invited": "Invitations to appointees of the state, over all meetings",
        "rang": "Invitees of the state whose phone was rung, over all meetings",
        "answered": "Invitees of the state who answered a call, over all meetings",
        "joined": "Invitees of the state who joined, over all meetings",
        "confirmed": "Invitees of the state who confirmed they listened, over all meetings",
        "attended_seconds": "Seconds attended by the state's invitees, over all meetings",
        "workers_reached": "Distinct appointees of the state who joined any meeting",
    }.items()
}
TARGET_REMAINING = Gauge(
    "sangathan_meetings_target_remaining", "Meetings still to hold for the target", ["state"]
)
TARGET_ON_TRACK = Gauge(
    "sangathan_meetings_target_on_track",
    "1 if the recent rate meets the target by its date",
    ["state"],
)


def set_state(state: str, numbers: dict[str, int]) -> None:
    for name, value in numbers.items():
        _STATE_GAUGES[name].labels(state).set(value)


def set_target(state: str, projection) -> None:
    TARGET_REMAINING.labels(state).set(projection.remaining)
    TARGET_ON_TRACK.labels(state).set(int(projection.on_track))
