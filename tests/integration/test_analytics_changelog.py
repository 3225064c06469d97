"""The analytics worker's producer against the real broker: a table row queued before an offset
commit is on the broker when the commit goes out (analytics/adapters/changelog.py).

Faust flushes its producer right before it commits source offsets; a row still on its way after
that flush is lost if the worker dies just after the commit, and its event is never read again.
"""

import asyncio
import threading
import time

import pytest
from confluent_kafka.admin import NewTopic

from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

HELD_S = 1.5


def test_the_flush_before_a_commit_returns_only_once_earlier_table_rows_are_on_the_broker(admin):
    from analytics.app import app  # the worker's own app, so its own producer

    changelog = f"scratch-changelog-{random_suffix()}"

    def create_changelog_later() -> None:
        # Until its topic exists the row waits in the producer (for metadata), as it waits for a
        # full batch to drain on a busy worker: the row is queued, not yet on the broker.
        time.sleep(HELD_S)
        admin.create_topics([NewTopic(changelog, num_partitions=1, replication_factor=1)])[
            changelog
        ].result()

    async def flush_with_a_row_on_its_way() -> tuple[bool, float]:
        producer = app.producer
        await producer.start()
        try:
            row = app.topic(changelog, key_serializer="raw", value_serializer="raw").send_soon(
                key=b"IN-HP-D01-A01-M01-S01-B001", value=b"{}", partition=0
            )
            await asyncio.sleep(0.05)  # the producer's buffer task has taken it off its queue
            started = time.monotonic()
            await producer.flush()
            return row.done() and row.exception() is None, time.monotonic() - started
        finally:
            await producer.stop()

    creator = threading.Thread(target=create_changelog_later)
    creator.start()
    try:
        delivered, waited_s = asyncio.run(flush_with_a_row_on_its_way())
    finally:
        creator.join()
        admin.delete_topics([changelog])
    assert delivered, f"flush returned after {waited_s:.2f}s with the row not yet on the broker"
