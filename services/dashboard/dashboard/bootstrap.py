"""The one place that wires the dashboard's real adapters and background loop."""

from dataclasses import dataclass

import httpx

from dashboard.adapters.analytics import AnalyticsClient
from dashboard.adapters.live import CoverageFeed
from dashboard.settings import DashboardSettings
from shared.background import Background, BackgroundJobs
from shared.health import Check, kafka_check


@dataclass
class Adapters(BackgroundJobs):
    analytics: AnalyticsClient
    live: CoverageFeed
    checks: dict[str, Check]


def bootstrap(settings: DashboardSettings) -> Adapters:
    live = CoverageFeed(settings.kafka_bootstrap, settings.coverage_topic)
    return Adapters(
        analytics=AnalyticsClient(settings.analytics_url, settings.analytics_timeout_s),
        live=live,
        checks={
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
            "analytics": _alive(f"{settings.analytics_url}/healthz", settings.dependency_timeout_s),
        },
        background=[Background("coverage-feed", live.run)],
    )


def _alive(url: str, timeout_s: float) -> Check:
    def check() -> None:
        httpx.get(url, timeout=timeout_s).raise_for_status()
    return check
