"""The local token issuer, for development and tests (production uses the identity provider).

    python -m shared.auth.issuer organiser --sub user-1 --unit IN-HP-D03 [--role district_president]
        [--scope directives:override-quiet-hours]   # a scope beyond an organiser's usual ones
        [--audience dashboard]                      # only these services (repeatable)
    python -m shared.auth.issuer services      # (re)writes each service's own token file (and
                                               # makes the dashboard's exchange key pair once)

Organiser tokens go to standard output; service tokens to `.state/auth/tokens/<service>.jwt`,
which each service reads (SERVICE_TOKEN_FILE) when it calls another.

Every token names the services it is for (`aud`), and each service accepts only tokens naming it.
An organiser's token names the services an organiser's client calls (the portal's appointments,
directives, coverage and the dashboard), as an identity provider's token for the organisation's
app would; a narrower one is a flag away. A service's token names only the service it calls.
"""

import argparse
import os
from datetime import timedelta
from pathlib import Path

from shared.auth import exchange, tokens
from shared.auth.keys import LOCAL_TOKENS, ensure_local_keys, private_key_file

ISSUER = "sangathan-local"
ORGANISER_SCOPES = [
    "appointments:read",
    "appointments:write",
    "directives:issue",
    "coverage:read",
    "meetings:schedule",
    "reports:design",
    "reports:dispatch",
    "reports:answer",
    "reports:review",
    "reports:read",
    "reports:groups",
]
# The services an organiser calls; the OTP service is not one of them (appointments asks it).
ORGANISER_AUDIENCES = [
    "appointments",
    "notifier",
    "analytics",
    "dashboard",
    "meetings",
    "reports",
]
# What each service may ask of which other: {caller: {the service it calls (its token's audience):
# scopes}}.
SERVICE_CALLS = {
    "appointments": {"otp": ["otp:verify"]},
    "otp": {"notifier": ["messages:send"]},  # hands codes to the notifier
    # reads recipients; finds an inbound reply's sender and hands the reply to reports
    "notifier": {
        "appointments": ["recipients:read", "appointees:find"],
        "reports": ["reports:reply"],
    },
    "analytics": {},
    # resolves a meeting's invitees and hands their invitations to the notifier's lanes
    "meetings": {"appointments": ["recipients:read"], "notifier": ["messages:send"]},
    # finds each round's recipients, hands their answer links and reminders to the notifier's
    # lanes and tells a silent booth's mandal
    "reports": {"appointments": ["recipients:read"], "notifier": ["messages:send"]},
}


def organiser_token(
    *,
    sub: str,
    unit: str,
    role: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    scopes: list[str] | None = None,
    audiences: list[str] | None = None,
) -> str:
    private, _ = ensure_local_keys()
    return tokens.issue(
        private_key_file(private).get(),
        issuer=ISSUER,
        audience=ORGANISER_AUDIENCES if audiences is None else audiences,
        subject=sub,
        kind=tokens.ORGANISER,
        unit=unit,
        role=role,
        scopes=ORGANISER_SCOPES if scopes is None else scopes,
        ttl=ttl,
    )


def service_token(service: str, ttl: timedelta = timedelta(days=30)) -> str:
    """`service`'s token for the services it calls, with the scopes it needs there."""
    private, _ = ensure_local_keys()
    calls = SERVICE_CALLS[service]
    scopes = sorted({scope for needed in calls.values() for scope in needed})
    return tokens.issue(
        private_key_file(private).get(),
        issuer=ISSUER,
        audience=sorted(calls),
        subject=f"svc:{service}",
        kind=tokens.SERVICE,
        scopes=scopes,
        ttl=ttl,
    )


def write_service_tokens(directory: Path = LOCAL_TOKENS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for service in SERVICE_CALLS:
        path = directory / f"{service}.jwt"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(service_token(service))
        tmp.replace(path)  # atomic: a service never reads half a token


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    organiser = commands.add_parser("organiser", help="print an organiser's token")
    organiser.add_argument("--sub", required=True, help="account id, e.g. user-4821")
    organiser.add_argument("--unit", required=True, help="their unit, e.g. IN-HP-D03")
    organiser.add_argument("--role", default=None)
    organiser.add_argument("--hours", type=float, default=8)
    organiser.add_argument(
        "--scope", action="append", default=[], help="a further scope (repeatable)"
    )
    organiser.add_argument(
        "--audience",
        action="append",
        default=None,
        choices=ORGANISER_AUDIENCES,
        help=f"a service the token is for (repeatable; default: {' '.join(ORGANISER_AUDIENCES)})",
    )
    commands.add_parser("services", help="write every service's token file")
    args = parser.parse_args()
    if args.command == "organiser":
        print(
            organiser_token(
                sub=args.sub,
                unit=args.unit,
                role=args.role,
                ttl=timedelta(hours=args.hours),
                scopes=ORGANISER_SCOPES + args.scope,
                audiences=args.audience,
            )
        )
    else:
        write_service_tokens()
        exchange.local_signing_key()  # the dashboard's, whose public half analytics reads


if __name__ == "__main__":
    main()
