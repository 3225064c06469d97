"""One structured (JSON lines) logger for every service.

Personal data must never reach a log: the filter below masks anything that looks like a
phone number, whatever code path formatted it, as a last line of defence. Nor may a link's
token: a recipient's acknowledgement (/a/), join (/j/) or answer (/r/) link is a credential, so
its token is blanked wherever a message names such a path (uvicorn's access log, when on).
"""

import json
import logging
import re
import sys
from datetime import datetime, timezone

# Indian mobiles in any common spelling (+91 98xxxxxxxx, 09812345678, 9812345678), URL-encoded
# (%2B91...) or run into letters (to=9812345678x, phone9812345678), and any other E.164-looking
# number. A candidate needs 10 to 15 digits, so dates, UUIDs and unit ids stay readable; only a
# longer run of digits around it makes it something else (an id, a timestamp in ms).
_PHONE = re.compile(r"(?<!\d)(?:\+|%2[Bb])?\d[\d \-]{8,16}\d(?!\d)")
_ENCODED_PLUS = re.compile(r"^%2[Bb]")
_UUID = re.compile(r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")


# A link's path at the start of a path (after a space, a quote, a bracket, = or a URL's host), not
# a path segment of another route (/v1/a/b).
_LINK_TOKEN = re.compile(r"(^|[\s\"'(=]|//[^/\s]+)/([ajr])/[A-Za-z0-9._~%-]+")


def mask_link_tokens(text: str) -> str:
    return _LINK_TOKEN.sub(r"\1/\2/<token>", text)


def mask_phones(text: str) -> str:
    # Odd pieces of the split are UUIDs, left as they are.
    return "".join(
        piece if i % 2 else _PHONE.sub(_masked, piece) for i, piece in enumerate(_UUID.split(text))
    )


def _masked_text(text: str) -> str:
    return mask_phones(mask_link_tokens(text))


def _masked(match: re.Match) -> str:
    digits = re.sub(r"\D", "", _ENCODED_PLUS.sub("", match.group()))
    return "***" + digits[-2:] if 10 <= len(digits) <= 15 else match.group()


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": _masked_text(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = _masked_text(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = _masked_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger (and uvicorn's) to JSON lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        # uvicorn --no-access-log (every deployment's) leaves the access logger without handlers
        # and not propagating: left so, or this would turn it back on.
        switched_off = name == "uvicorn.access" and not logger.handlers and not logger.propagate
        logger.handlers[:] = []
        logger.propagate = not switched_off


def get_logger(name: str) -> logging.LoggerAdapter:
    """A logger whose keyword `fields=` land as top-level JSON keys."""
    return _FieldsAdapter(logging.getLogger(name), {})


class _FieldsAdapter(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        fields = kwargs.pop("fields", None) or {}
        kwargs.setdefault("extra", {})["fields"] = fields
        return msg, kwargs
