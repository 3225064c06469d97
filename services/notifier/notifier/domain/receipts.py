"""What a recipient's delivery state may become. Providers report twice and out of order (read
before delivered), and a message may fail on one channel and then arrive on the next; the state
of a recipient for a directive only moves forward: none < failed < sent < delivered < read.

`failed` sits below `sent` because a failure on WhatsApp followed by an SMS that arrives leaves
the recipient reached; a failure after the recipient was reached changes nothing.
"""

from __future__ import annotations

NONE, FAILED, SENT, DELIVERED, READ = "none", "failed", "sent", "delivered", "read"
RANK = {NONE: 0, FAILED: 1, SENT: 2, DELIVERED: 3, READ: 4}
STATUSES = (SENT, DELIVERED, READ, FAILED)  # as events carry them
# Counted cumulatively: a read message was also sent and delivered.
FUNNEL = (SENT, DELIVERED, READ)


def advance(current: str, reported: str) -> str:
    """The state after a report: the further of the two."""
    return reported if RANK[reported] > RANK[current] else current


def count_changes(before: str, after: str) -> dict[str, int]:
    """How the per-state counters move when a recipient goes from `before` to `after`.

    sent/delivered/read count everyone who got at least that far; failed counts those whose
    furthest state is a failure (so it falls again when a fallback channel gets through).
    """
    changes: dict[str, int] = {}
    if RANK[after] <= RANK[before]:
        return changes
    if before == FAILED:
        changes[FAILED] = -1
    if after == FAILED:
        changes[FAILED] = 1
    for status in FUNNEL:
        if RANK[before] < RANK[status] <= RANK[after]:
            changes[status] = 1
    return changes


def reached(state: str) -> bool:
    """A booth is reached once one of its recipients has a message delivered (or read)."""
    return RANK[state] >= RANK[DELIVERED]
