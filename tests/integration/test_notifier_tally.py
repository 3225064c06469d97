"""The Redis tally (Lua) against the pure rules of notifier.domain.receipts: random streams of
duplicated, reordered and failing reports give the same counts both ways."""

import random
import uuid
from collections import Counter

import pytest
import redis

from notifier.adapters.tally import Tally
from notifier.domain import receipts
from notifier.domain.tasks import booth_path
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

BOOTHS = ["IN-HP-D01-A01-M01-S01-B001", "IN-HP-D01-A01-M01-S01-B002", "IN-HP-D02-A01-M01-S01-B001"]


@pytest.fixture
def tally(settings):
    client = redis.Redis.from_url(settings.redis_url)
    prefix = f"test-tally-{random_suffix()}:"
    yield Tally(client, prefix=prefix)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def expected(reports: list[tuple[str, str, str]]) -> tuple[Counter, set]:
    """The counts the domain rules give: (recipient, booth, status) reports folded in order."""
    state: dict[str, str] = {}
    counts: Counter = Counter()
    reached = set()
    for recipient, booth, status in reports:
        before = state.get(recipient, receipts.NONE)
        after = receipts.advance(before, status)
        for name, n in receipts.count_changes(before, after).items():
            counts[name] += n
        state[recipient] = after
        if receipts.reached(after):
            reached.add(booth)
    return counts, reached


@pytest.mark.parametrize("seed", range(5))
def test_the_tally_counts_what_the_domain_rules_say_whatever_the_order_and_repeats(tally, seed):
    rng = random.Random(seed)
    directive = str(uuid.uuid4())
    recipients = [(str(uuid.uuid4()), rng.choice(BOOTHS)) for _ in range(30)]
    reports = []
    for recipient, booth in recipients:
        statuses = rng.choice([["sent", "delivered", "read"], ["failed"], ["failed", "sent", "delivered"],
                               ["sent", "failed"], ["sent", "delivered"]])
        statuses += rng.sample(statuses, k=rng.randint(0, len(statuses)))  # duplicates
        reports += [(recipient, booth, s) for s in statuses]
    rng.shuffle(reports)  # out of order, across and within recipients

    for recipient, booth, status in reports:
        tally.status(directive_id=directive, recipient_id=recipient, booth_id=booth, path=booth_path(booth),
                     status=status, channel="whatsapp", code="X" if status == "failed" else None)
    counts, reached = expected(reports)
    snapshot = tally.snapshot(directive)
    assert {k: snapshot["total"][k] for k in ("sent", "delivered", "read", "failed")} == {
        k: counts[k] for k in ("sent", "delivered", "read", "failed")}
    assert snapshot["booths"]["reached"] == len(reached)
    assert len(tally.failures(directive, 100)) == counts["failed"]
    assert sum(snapshot["districts"][d]["delivered"] for d in snapshot["districts"]) == counts["delivered"]


def test_an_acknowledgement_counts_once_per_recipient_and_marks_the_booth(tally):
    directive, recipient, booth = str(uuid.uuid4()), str(uuid.uuid4()), BOOTHS[0]
    for _ in range(3):
        tally.acknowledged(directive_id=directive, recipient_id=recipient, booth_id=booth, path=booth_path(booth))
    snapshot = tally.snapshot(directive)
    assert snapshot["total"]["acknowledged"] == 1 and snapshot["states"]["IN-HP"]["acknowledged"] == 1
    assert snapshot["booths"]["acknowledged"] == 1 and tally.acked_booths(directive, BOOTHS) == [True, False, False]
