"""What each process asks of MongoDB, by command and collection: counted and timed for
Prometheus (`sangathan_mongo_commands_total`, `sangathan_mongo_command_seconds_total`).

FerretDB's cost is per command more than per document, and a process's commands come from many
threads (diallers, webhooks, relays); these say which collection's reads or writes the store
spends its time on, without a profiler.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter
from pymongo import monitoring

COMMANDS = Counter(
    "sangathan_mongo_commands",
    "MongoDB commands this process sent, by command and collection",
    ["command", "collection"],
)
SECONDS = Counter(
    "sangathan_mongo_command_seconds",
    "Seconds this process waited for MongoDB commands to answer, by command and collection",
    ["command", "collection"],
)

# Commands whose first field names a collection; getMore names it in `collection`.
NAMED = {"find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "distinct"}


class CommandMetrics(monitoring.CommandListener):
    def __init__(self) -> None:
        self._asked: dict[int, tuple[str, str]] = {}  # request id (unique in a process) -> labels
        self._children: dict[tuple[str, str], tuple] = {}
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in NAMED:
            collection = str(event.command.get(name, ""))
        elif name == "getMore":
            collection = str(event.command.get("collection", ""))
        else:
            collection = ""
        self._asked[event.request_id] = (name, collection)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._answered(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._answered(event)

    def _answered(self, event) -> None:
        labels = self._asked.pop(event.request_id, None)
        if labels is None:
            return
        children = self._children.get(labels)
        if children is None:
            with self._lock:
                children = self._children.setdefault(
                    labels, (COMMANDS.labels(*labels), SECONDS.labels(*labels))
                )
        children[0].inc()
        children[1].inc(event.duration_micros / 1e6)


command_metrics = CommandMetrics()  # one per process: its counters are the process's
