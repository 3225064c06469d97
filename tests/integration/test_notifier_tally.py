"""The Redis tally (Lua) against the pure rules of notifier.domain.receipts: random streams of
duplicated, reordered and failing reports give the same counts both ways."""

import random
import uuid
from collections import Counter

import pytest
import redis

from notifier.adapters.ledger import Ledger
from notifier.adapters.tally import Tally
from notifier.domain import receipts
from shared.crypto.fields import VersionedIndex
from shared.orgtree.levels import booth_path
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
        statuses = rng.choice(
            [
                ["sent", "delivered", "read"],
                ["failed"],
                ["failed", "sent", "delivered"],
                ["sent", "failed"],
                ["sent", "delivered"],
            ]
        )
        statuses += rng.sample(statuses, k=rng.randint(0, len(statuses)))  # duplicates
        reports += [(recipient, booth, s) for s in statuses]
    rng.shuffle(reports)  # out of order, across and within recipients

    for recipient, booth, status in reports:
        tally.status(
            directive_id=directive,
            recipient_id=recipient,
            booth_id=booth,
            path=booth_path(booth),
            status=status,
            channel="whatsapp",
            code="X" if status == "failed" else None,
        )
    counts, reached = expected(reports)
    snapshot = tally.snapshot(directive)
    assert {k: snapshot["total"][k] for k in ("sent", "delivered", "read", "failed")} == {
        k: counts[k] for k in ("sent", "delivered", "read", "failed")
    }
    assert snapshot["booths"]["reached"] == len(reached)
    assert len(tally.failures(directive, 100)) == counts["failed"]
    assert (
        sum(snapshot["districts"][d]["delivered"] for d in snapshot["districts"])
        == counts["delivered"]
    )


def test_an_acknowledgement_counts_once_per_recipient_and_marks_the_booth(tally):
    directive, recipient, booth = str(uuid.uuid4()), str(uuid.uuid4()), BOOTHS[0]
    for _ in range(3):
        tally.acknowledged(
            directive_id=directive, recipient_id=recipient, booth_id=booth, path=booth_path(booth)
        )
    snapshot = tally.snapshot(directive)
    assert (
        snapshot["total"]["acknowledged"] == 1 and snapshot["states"]["IN-HP"]["acknowledged"] == 1
    )
    assert snapshot["booths"]["acknowledged"] == 1 and tally.acked_booths(directive, BOOTHS) == [
        True,
        False,
        False,
    ]


def test_a_fan_out_chunk_records_its_targeted_counts_and_its_resume_point_in_one_transaction(tally):
    ledger = Ledger(
        tally.redis,
        prefix=tally.prefix,
        phone_key=b"k" * 32,
        optouts=VersionedIndex({"v1": b"o" * 32}, "v1"),
    )
    directive_id = str(uuid.uuid4())
    counts = Counter({"all": 2, "IN-HP": 2, "IN-HP-D01": 2})
    with MonitoredCalls(tally.redis) as calls:
        ledger.chunk_done(
            directive_id,
            "IN-HP-D01",
            2,
            counted=tally.targeted(directive_id, counts, set(BOOTHS[:2])),
        )
    assert calls.transactions == 1, (
        "the counts and the resume point are written together, in one round trip"
    )
    assert ledger.chunks_done(directive_id) == {"IN-HP-D01"} and ledger.targeted(directive_id) == 2
    snapshot = tally.snapshot(directive_id)
    assert snapshot["total"]["targeted"] == 2 and snapshot["booths"]["targeted"] == 2
    assert snapshot["districts"]["IN-HP-D01"]["targeted"] == 2


def test_an_acknowledgement_mark_is_taken_once_and_can_be_given_back(tally):
    ledger = Ledger(
        tally.redis,
        prefix=tally.prefix,
        phone_key=b"k" * 32,
        optouts=VersionedIndex({"v1": b"o" * 32}, "v1"),
    )
    directive_id, recipient_id = str(uuid.uuid4()), str(uuid.uuid4())
    assert ledger.mark_acknowledged(directive_id, recipient_id, "link") is True
    assert ledger.mark_acknowledged(directive_id, recipient_id, "reply") is False, (
        "the second is a repeat"
    )
    ledger.unmark_acknowledged(directive_id, recipient_id)  # its event could not be published
    assert ledger.mark_acknowledged(directive_id, recipient_id, "reply") is True


class MonitoredCalls:
    """Counts MULTI/EXEC transactions sent on a client while in the block (redis-py's pipeline
    sends each as one request)."""

    def __init__(self, client: redis.Redis):
        self.client, self.transactions = client, 0

    def __enter__(self):
        original = self.client.pipeline

        def counting(*args, **kwargs):
            pipe = original(*args, **kwargs)
            execute = pipe.execute

            def counted_execute(*a, **k):
                self.transactions += bool(pipe.transaction)
                return execute(*a, **k)

            pipe.execute = counted_execute
            return pipe

        self.client.pipeline = counting
        return self

    def __exit__(self, *exc):
        del self.client.pipeline
