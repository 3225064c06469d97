"""A Faust table written from a timer, row by row into the changelog partition the row names.

Faust puts an agent's table writes in the changelog partition of the record being processed, so
a recovered worker finds each row where its source partition's owner looks. A timer processes no
record (Faust refuses the write), so this names the partition: the row's own. The store is changed
directly and the change sent to the changelog, as Faust does for an agent's write.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class PartitionedRows:
    def __init__(self, table: Any):
        self.table = table

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self.table.data.items()))

    def get(self, key: str) -> Any:
        return self.table.data.get(key)

    def put(self, partition: int, key: str, value: Any) -> None:
        self.table.data[key] = value
        self.table.send_changelog(partition, key, value)

    def delete(self, partition: int, key: str) -> None:
        self.table.data.pop(key, None)
        self.table.send_changelog(partition, key, None, value_serializer="raw")
