"""Acknowledgement tokens: a link per (directive, recipient) that only this service can mint.

The token packs the directive id, the recipient's appointment id and the booth id, with an HMAC
over all three under the service's key (shared/crypto/claims.py): changing any part (another
directive, another person) breaks the MAC, so a token can be neither forged nor reused for another
directive.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.crypto import claims

_LABEL = b"sangathan-ack-v1\x00"


class InvalidAckToken(Exception):
    """Malformed, or not minted by this service for these ids."""


@dataclass(frozen=True)
class AckClaim:
    directive_id: str
    recipient_id: str
    booth_id: str


@dataclass(frozen=True)
class AckLinks:
    """The links the service sends: its public address and a token only it can mint."""

    key: bytes
    public_url: str

    def link(self, claim: AckClaim) -> str:
        return f"{self.public_url}/a/{mint(self.key, claim)}"


def mint(key: bytes, claim: AckClaim) -> str:
    return claims.mint(key, _LABEL, (claim.directive_id, claim.recipient_id), claim.booth_id)


def read(key: bytes, token: str) -> AckClaim:
    try:
        (directive_id, recipient_id), booth_id = claims.read(key, _LABEL, token, ids=2)
    except claims.InvalidClaim as exc:
        raise InvalidAckToken(str(exc)) from None
    return AckClaim(directive_id, recipient_id, booth_id)
