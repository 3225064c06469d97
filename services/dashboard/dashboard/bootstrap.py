"""The one place that wires the dashboard's real adapters and background loop."""

from dataclasses import dataclass

import httpx

from dashboard.adapters.analytics import AnalyticsClient
from dashboard.adapters.forms import FormFeed
from dashboard.adapters.live import CoverageFeed
from dashboard.adapters.sessions import SessionStore
from dashboard.settings import DashboardSettings
from shared.auth import exchange
from shared.background import Background, BackgroundJobs
from shared.clients import redis_client
from shared.health import Check, kafka_check, redis_check


@dataclass
class Adapters(BackgroundJobs):
    settings: DashboardSettings
    analytics: AnalyticsClient
    live: CoverageFeed
    forms: FormFeed
    sessions: SessionStore
    exchanger: exchange.Exchanger
    checks: dict[str, Check]


def bootstrap(settings: DashboardSettings) -> Adapters:
    live = CoverageFeed(settings.kafka_bootstrap, settings.coverage_topic)
    forms = FormFeed(settings.kafka_bootstrap, settings.forms_topic)
    redis = redis_client(settings)
    return Adapters(
        settings=settings,
        analytics=AnalyticsClient(settings.analytics_url, settings.analytics_timeout_s),
        live=live,
        forms=forms,
        sessions=SessionStore(redis),
        exchanger=exchange.Exchanger(settings.exchange_key_file or exchange.local_signing_key()),
        checks={
            "kafka": kafka_check(settings.kafka_bootstrap, settings.dependency_timeout_s),
            "redis": redis_check(redis),
            "analytics": _alive(f"{settings.analytics_url}/healthz", settings.dependency_timeout_s),
        },
        background=[Background("coverage-feed", live.run), Background("form-feed", forms.run)],
    )


def _alive(url: str, timeout_s: float) -> Check:
    def check() -> None:
        httpx.get(url, timeout=timeout_s).raise_for_status()

    return check
