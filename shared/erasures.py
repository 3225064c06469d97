"""Reading person-erased: every service that keeps an appointee's phone forgets it the same way."""

from collections.abc import Callable

from shared.events import types
from shared.events.contracts import Event


def erasure_handler(forget: Callable[[str, str], object]) -> Callable[[Event], None]:
    """A consumer's handler calling `forget(appointment_id, erasure_id)` for each erasure."""

    def handle(event: Event) -> None:
        if event.type == types.PERSON_ERASED:
            forget(event.data["appointment_id"], event.data["erasure_id"])

    return handle
