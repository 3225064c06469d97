"""Dead letters without personal data in the clear, still replayable.

The dead-letter topic keeps a record a consumer could not use for a week (shared/topics.py), for
a person to look at and replay. Some records carry people: an otp-requested event, a notifier
delivery task (phones, names). So before a record is dead-lettered its personal fields are sealed
(AES-GCM, `shared/crypto/fields.py`) under the dead-letter keyring, `DEAD_LETTER_KEYS[_FILE]`:
everything else stays readable, and `opened` gives the record back for a replay. A value that is
not JSON but holds something shaped like a phone is sealed whole. An erasure need not chase the
copies: without the key they are noise, and they age out with the topic.

Without a keyring (none configured outside development), personal fields are masked instead:
nothing to replay them from, but nothing to leak. The `dlt_sealed` header says what was done.
"""

import base64
import json
from typing import Any

from shared.crypto.fields import FieldCipher, is_sealed, keyring
from shared.logging import get_logger, mask_phones
from shared.settings import PlatformSettings

log = get_logger(__name__)

PERSONAL_FIELDS = frozenset({"phone", "name"})
DLT_SEALED = "dlt_sealed"
FIELDS, VALUE, MASKED = "fields", "value", "masked"  # its values
WHOLE = "dead-letter"  # the purpose a whole value is sealed for


class DeadLetterSeal:
    """Takes the personal data out of a record's value before it is dead-lettered."""

    def __init__(self, cipher: FieldCipher | None):
        self.cipher = cipher

    def __call__(self, value: bytes | None) -> tuple[bytes | None, str | None]:
        """(the value to dead-letter, what was done to it: FIELDS, VALUE, MASKED or None)."""
        if not value:
            return value, None
        try:
            document = json.loads(value)
        except ValueError:
            return self._raw(value)
        changed = _each_personal(document, self._field)
        return (
            (
                json.dumps(document, ensure_ascii=False).encode(),
                MASKED if self.cipher is None else FIELDS,
            )
            if changed
            else (value, None)
        )

    def opened(self, value: bytes, how: str | None) -> bytes:
        """The value as it was first consumed (JSON re-encoded): what a replay publishes again."""
        if how == VALUE:
            return base64.b64decode(self._cipher().open(value.decode(), WHOLE))
        if how != FIELDS:
            return value
        document = json.loads(value)
        _each_personal(
            document, lambda field, v: self._cipher().open(v, field) if is_sealed(v) else v
        )
        return json.dumps(document, ensure_ascii=False).encode()

    def _field(self, field: str, value: str) -> str:
        if is_sealed(value):
            return value
        if self.cipher is not None:
            return self.cipher.seal(value, field)
        return "***" + value[-2:] if field == "phone" else "***"

    def _raw(self, value: bytes) -> tuple[bytes, str | None]:
        text = value.decode(
            "latin-1"
        )  # any bytes, one character each: masking keeps the rest as it was
        if mask_phones(text) == text:
            return value, None
        if self.cipher is None:
            return mask_phones(text).encode("latin-1"), MASKED
        return self.cipher.seal(base64.b64encode(value).decode(), WHOLE).encode(), VALUE

    def _cipher(self) -> FieldCipher:
        if self.cipher is None:
            raise ValueError("no dead-letter keyring: masked values cannot be opened")
        return self.cipher


def _each_personal(node: Any, change) -> bool:
    """Replace every personal field's text, at any depth, by change(field, text); True if any."""
    changed = False
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in list(items):
        if key in PERSONAL_FIELDS and isinstance(child, str) and child:
            node[key] = change(key, child)
            changed = True
        else:
            changed = _each_personal(child, change) or changed
    return changed


def dead_letter_seal(settings: PlatformSettings) -> DeadLetterSeal:
    """The keyring from settings (a mounted Secret), the development key in development; masking
    where neither is there (production without the Secret)."""
    configured = settings.dead_letter_keys is not None or settings.dead_letter_keys_file is not None
    if not configured and not settings.makes_development_keys:
        log.warning(
            "no dead-letter keyring (DEAD_LETTER_KEYS_FILE): "
            "personal fields of dead letters are masked, and cannot be replayed"
        )
        return DeadLetterSeal(None)
    what = "the dead-letter keyring"
    raw = settings.key(
        settings.dead_letter_keys,
        settings.dead_letter_keys_file,
        development_file="dead-letters.keys",
        what=what,
    )
    return DeadLetterSeal(keyring(raw, what))
