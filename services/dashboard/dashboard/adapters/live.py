"""Live coverage for dashboard pages: the coverage topic fanned out to SSE listeners
(shared.kafka.live: every dashboard replica tails it from its end, with a group of its own)."""

from shared.kafka.live import TopicFanout
from shared.topics import COVERAGE


class CoverageFeed(TopicFanout):
    def __init__(self, bootstrap: str, topic: str = COVERAGE.name):
        super().__init__(bootstrap, topic, "dashboard-live")
