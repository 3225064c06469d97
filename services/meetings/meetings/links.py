"""Join links: one per (meeting, invitee), that only this service can mint.

    {MEETINGS_PUBLIC_URL}/j/{token}

The token packs the meeting id, the participant id (the invitee's appointment id) and the booth id,
signed under the meetings link key (shared/crypto/claims.py, the same mechanics as the notifier's
acknowledgement links, another label): changing any part breaks it, so an invitee's link can
neither be forged nor turned into another invitee's or another meeting's. The conference half
verifies a link opened with `read` and finds the invitee document by the ids it carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.crypto import claims

_LABEL = b"sangathan-join-v1\x00"


class InvalidJoinToken(Exception):
    """Malformed, or not minted by this service for these ids."""


@dataclass(frozen=True)
class JoinClaim:
    meeting_id: str
    participant_id: str
    booth_id: str


@dataclass(frozen=True)
class JoinLinks:
    """The service's public address and the key only it holds."""

    key: bytes
    public_url: str

    def link(self, claim: JoinClaim) -> str:
        return f"{self.public_url.rstrip('/')}/j/{mint(self.key, claim)}"


def mint(key: bytes, claim: JoinClaim) -> str:
    return claims.mint(key, _LABEL, (claim.meeting_id, claim.participant_id), claim.booth_id)


def read(key: bytes, token: str) -> JoinClaim:
    try:
        (meeting_id, participant_id), booth_id = claims.read(key, _LABEL, token, ids=2)
    except claims.InvalidClaim as exc:
        raise InvalidJoinToken(str(exc)) from None
    return JoinClaim(meeting_id, participant_id, booth_id)
