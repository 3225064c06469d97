"""Live appointment changes for portal pages: the appointments topic fanned out to SSE listeners
(shared.kafka.live: every replica tails it from its end, each listener gets its own subtree)."""

from shared.kafka.live import Listener, TopicFanout
from shared.topics import APPOINTMENTS

__all__ = ["LiveFeed", "Listener"]


class LiveFeed(TopicFanout):
    def __init__(self, bootstrap: str):
        super().__init__(bootstrap, APPOINTMENTS, "appointments-live")
