"""The mover: tasks whose wait is over (retries, quiet hours, caps) go back on their lanes."""

from __future__ import annotations

from notifier.domain.tasks import Task
from notifier.handlers.ports import Ports, TaskLanes


def move_due_tasks(ports: Ports, producer: TaskLanes, limit: int = 1000) -> int:
    """Put tasks whose wait is over (retries, quiet hours, caps) back on their lanes."""
    members = ports.ledger.take_due_tasks(ports.clock(), limit)
    if not members:
        return 0
    for member in members:
        task = Task.from_json(member)
        producer.produce_raw(task.lane, task.booth_id.encode(), member, task.delivery_id)
    producer.flush()
    ports.ledger.forget_tasks(members)  # only once Kafka has them
    return len(members)
