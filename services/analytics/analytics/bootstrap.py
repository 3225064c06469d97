"""The one place that wires the coverage, meetings and reports streams to the real registry and
topics."""

from __future__ import annotations

import faust

from analytics.adapters.kafka import CoverageOut, DeadLetters, PartialsOut, ViewReader
from analytics.adapters.registry import CachedRegistry
from analytics.coverage.deadline import load_targets
from analytics.coverage.stream import CoverageStream
from analytics.meetings.stream import MeetingsStream
from analytics.meetings.targets import load_meeting_targets
from analytics.reports.stream import ReportsStream
from analytics.settings import AnalyticsSettings
from shared.clients import mongo_client
from shared.kafka.deadletters import dead_letter_seal
from shared.orgtree.repository import OrgRegistry


def partials_topic_name(settings: AnalyticsSettings) -> str:
    """Prefixed with the app id like Faust's changelogs: each worker group has its own."""
    return f"{settings.app_id}-coverage-partials"


def build_streams(
    app: faust.App, settings: AnalyticsSettings
) -> tuple[CoverageStream, MeetingsStream, ReportsStream, ViewReader]:
    """The streams share the registry, the partials topic (and its lock) and the dead letters;
    one reader brings every worker's partials back into every view."""
    producer_of = lambda: app.producer  # noqa: E731  created when the app starts, not before
    registry = CachedRegistry(
        OrgRegistry(mongo_client(settings)[settings.mongo_db]), settings.children_cache_s
    )
    partials = PartialsOut(producer_of, partials_topic_name(settings))
    dead_letters = DeadLetters(
        producer_of, settings.dead_letter_topic, settings.app_id, dead_letter_seal(settings)
    )
    common = {
        "registry": registry,
        "partials": partials,
        "dead_letters": dead_letters,
        "rate_window_hours": settings.rate_window_hours,
        "group": settings.app_id,
        "stopping": lambda: app.should_stop,
    }
    coverage = CoverageStream(
        **common,
        coverage=CoverageOut(producer_of, settings.coverage_topic),
        targets=load_targets(settings.targets_file),
    )
    meetings = MeetingsStream(
        **common,
        targets=load_meeting_targets(settings.targets_file),
        keep_ended_s=settings.meeting_keep_hours * 3600,
    )
    reports = ReportsStream(
        registry=registry, partials=partials, dead_letters=dead_letters, group=settings.app_id
    )
    reader = ViewReader(
        settings.kafka_bootstrap,
        partials_topic_name(settings),
        settings.coverage_topic,
        coverage.view,
        meetings.view,
        reports.view,
    )
    return coverage, meetings, reports, reader
