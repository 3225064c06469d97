"""Prometheus metrics of reports and WhatsApp groups: per state only (a form, a period or a booth
as a label would be unbounded); the API has every unit. Input events are counted with
coverage's (sangathan_analytics_events_total, by type and outcome)."""

from prometheus_client import Gauge, Histogram

VISIBILITY_LAG = Histogram(
    "sangathan_analytics_reports_visibility_lag_seconds",
    "From a report or WhatsApp group event's time to its partial being published "
    "(visible to every worker's API)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
_STATE_GAUGES = {
    name: Gauge(f"sangathan_{name}", help_, ["state"])
    for name, help_ in {
        "reports_expected_today": "Booth reports asked for today's period (IST), every form",
        "reports_submitted_today": "Booth reports submitted for today's period, every form",
        "reports_late_today": "Of those, submitted after their due time",
        "whatsapp_booths_with_group": "Booths with an active WhatsApp group",
        "whatsapp_members_reached": "Members of the state's active booth WhatsApp groups",
        "whatsapp_broadcast_lists": "Active booth broadcast lists",
        "whatsapp_broadcast_recipients": "Recipients of the state's active broadcast lists",
    }.items()
}


def set_state(state: str, numbers: dict[str, int]) -> None:
    for name, value in numbers.items():
        _STATE_GAUGES[name].labels(state).set(value)
