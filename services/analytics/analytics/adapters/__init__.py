"""The analytics worker's only I/O besides Faust itself: the org registry and its own topics."""
