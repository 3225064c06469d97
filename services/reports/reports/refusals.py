"""Refusals as RFC 9457 problems, for every router of the service: the domain's `Invalid` is a 422
naming each field, `Refused` a 403 or 409, a missing document a 404, a write that kept losing
its compare-and-set a 503 to retry."""

from contextlib import contextmanager

from reports import handlers
from reports.domain import Invalid, Refused
from reports.ports import AlreadyExists, ConcurrentUpdate
from shared.problems import ProblemError

FORBIDDEN = ("outside-jurisdiction", "not-the-owner", "not-a-designer")


@contextmanager
def refusals_as_problems():
    try:
        yield
    except Invalid as bad:
        errors = [{"field": f, "reason": r} for f, r in bad.errors]
        raise ProblemError(
            422, "invalid", "The request is not valid", str(bad), errors=errors
        ) from None
    except Refused as refused:
        status = 403 if refused.kind in FORBIDDEN else 409
        raise ProblemError(status, refused.kind, "Refused", refused.detail) from None
    except handlers.NotFound as missing:
        raise ProblemError(404, missing.kind, "Not found", missing.detail) from None
    except AlreadyExists:
        raise ProblemError(409, "form-exists", "Refused", "a form with this id exists") from None
    except ConcurrentUpdate:
        raise ProblemError(
            503,
            "busy",
            "Busy",
            "others changed the same document meanwhile; try again",
            headers={"Retry-After": "1"},
        ) from None
